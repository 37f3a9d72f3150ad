"""Row leases: which process works on a schedule or a flow run. A process claims the rows
nobody holds (or whose lease ran out), renews its own, and works only on what it holds."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from app.storage import Database


def claim(db: Database, model, owner: str, now: datetime, lease: timedelta, *scope) -> list[int]:
    """Take or renew the lease of every `model` row within `scope`; the ids now held."""
    with db.session() as s:
        s.execute(
            update(model)
            .where(
                *scope,
                or_(
                    model.lease_owner.is_(None),
                    model.lease_owner == owner,
                    model.lease_until < now,
                ),
            )
            .values(lease_owner=owner, lease_until=now + lease)
        )
        return list(s.scalars(select(model.id).where(*scope, model.lease_owner == owner)))


def release(db: Database, model, owner: str) -> None:
    with db.session() as s:
        s.execute(
            update(model)
            .where(model.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
