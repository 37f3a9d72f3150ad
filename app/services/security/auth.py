"""Who is acting, and what their role allows. Checked here, not only hidden in the UI."""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.names import NAME_RULE
from app.errors import InvalidInput, PermissionDenied
from app.storage.models import Role

_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
_hasher = PasswordHasher()
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class Actor:
    """The signed-in user on whose behalf a service call runs."""

    id: int | None
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]


# Used only by processes the control center itself starts (FL server, ingest).
SYSTEM = Actor(id=None, name="system", role=Role.ADMIN)


def require(actor: Actor, role: Role, action: str) -> None:
    if not actor.can(role):
        raise PermissionDenied(
            f"{actor.name} ({actor.role.value}) may not {action}: needs the {role.value} role"
        )


def user_name(session, user_id: int | None) -> str | None:
    """The name of the user with `user_id` (None if unknown or gone)."""
    from sqlalchemy import select

    from app.storage.models import User

    return session.scalar(select(User.name).where(User.id == user_id)) if user_id else None


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {value!r}: use one of {allowed}") from None


def validate_name(kind: str, value: str) -> str:
    if not _NAME.match(value or ""):
        said = f"a {kind} needs a name" if not value else f"{kind} name {value!r}"
        raise InvalidInput(f"{said}: {NAME_RULE}")
    return value


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
