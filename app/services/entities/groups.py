"""Groups of users, and who belongs to which."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.errors import Conflict, NotFound
from app.services.entities.records import GroupRecord
from app.services.security.auth import Actor, require, validate_name
from app.storage import Database
from app.storage.models import Group, Membership, Role, User


def _record(group: Group) -> GroupRecord:
    members = sorted(m.user.name for m in group.memberships)
    return GroupRecord(id=group.id, name=group.name, description=group.description, members=members)


def get_group(s: Session, name: str) -> Group:
    group = s.scalar(select(Group).where(Group.name == name))
    if group is None:
        raise NotFound(f"no group named {name!r}")
    return group


class GroupService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, actor: Actor, name: str, description: str = "") -> GroupRecord:
        require(actor, Role.ADMIN, "create groups")
        validate_name("group", name)
        with self._db.session() as s:
            if s.scalar(select(Group.id).where(Group.name == name)):
                raise Conflict(f"group {name!r} exists already")
            group = Group(name=name, description=description)
            s.add(group)
            s.flush()
            return GroupRecord(id=group.id, name=name, description=description)

    def list(self, actor: Actor) -> list[GroupRecord]:
        require(actor, Role.VIEWER, "list groups")
        with self._db.session() as s:
            query = select(Group).options(
                selectinload(Group.memberships).selectinload(Membership.user)
            )
            return [_record(g) for g in s.scalars(query.order_by(Group.name))]

    def rename(self, actor: Actor, name: str, new_name: str) -> GroupRecord:
        require(actor, Role.ADMIN, "rename groups")
        validate_name("group", new_name)
        with self._db.session() as s:
            group = get_group(s, name)
            if new_name != name and s.scalar(select(Group.id).where(Group.name == new_name)):
                raise Conflict(f"group {new_name!r} exists already")
            group.name = new_name
            s.flush()
            return _record(group)

    def add_member(self, actor: Actor, group: str, user: str) -> GroupRecord:
        require(actor, Role.ADMIN, "change group members")
        with self._db.session() as s:
            grp = get_group(s, group)
            member = s.scalar(select(User).where(User.name == user))
            if member is None:
                raise NotFound(f"no user named {user!r}")
            if any(m.user_id == member.id for m in grp.memberships):
                raise Conflict(f"{user!r} is already a member of {group!r}")
            grp.memberships.append(Membership(user=member))
            s.flush()
            return _record(grp)

    def remove_member(self, actor: Actor, group: str, user: str) -> GroupRecord:
        require(actor, Role.ADMIN, "change group members")
        with self._db.session() as s:
            grp = get_group(s, group)
            keep = [m for m in grp.memberships if m.user.name != user]
            if len(keep) == len(grp.memberships):
                raise NotFound(f"{user!r} is not a member of {group!r}")
            grp.memberships = keep
            s.flush()
            return _record(grp)

    def remove(self, actor: Actor, name: str) -> None:
        require(actor, Role.ADMIN, "remove groups")
        from app.storage.models import Project

        with self._db.session() as s:
            grp = get_group(s, name)
            used_by = s.scalars(select(Project.name).where(Project.group_id == grp.id)).all()
            if used_by:
                raise Conflict(f"group {name!r} is attached to project(s) {', '.join(used_by)}")
            s.delete(grp)
