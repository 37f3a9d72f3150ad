"""Users: first-run admin, login, add, list, password changes."""

from __future__ import annotations

from sqlalchemy import func, select

from app.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from app.services.entities.records import UserRecord
from app.services.security.auth import (
    Actor,
    hash_password,
    parse_role,
    require,
    validate_name,
    verify_password,
)
from app.storage import Database
from app.storage.models import Role, User


def _record(user: User) -> UserRecord:
    return UserRecord(id=user.id, name=user.name, role=user.role, created_at=user.created_at)


class UserService:
    def __init__(self, db: Database) -> None:
        self._db = db

    def has_users(self) -> bool:
        with self._db.session() as s:
            return bool(s.scalar(select(func.count(User.id))))

    def create_first_admin(self, name: str, password: str) -> UserRecord:
        """Only while the database has no user at all; afterwards an admin adds users."""
        validate_name("user", name)
        pw_hash = hash_password(password)
        with self._db.session() as s:
            if s.scalar(select(func.count(User.id))):
                raise Conflict("users exist already; sign in as an admin to add more")
            user = User(name=name, password_hash=pw_hash, role=Role.ADMIN.value)
            s.add(user)
            s.flush()
            return _record(user)

    def login(self, name: str, password: str) -> Actor:
        with self._db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None or not verify_password(user.password_hash, password):
                raise AuthenticationFailed(f"wrong user name or password for {name!r}")
            return Actor(id=user.id, name=user.name, role=Role(user.role))

    def signed_in(self, name: str) -> Actor:
        """A user a FedDeck command signed in (it holds the service secret): the request it
        passes on runs as that user, with the role the database gives them now."""
        with self._db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None:
                raise NotFound(f"no user named {name!r}")
            return Actor(id=user.id, name=user.name, role=Role(user.role))

    def add(self, actor: Actor, name: str, password: str, role: str) -> UserRecord:
        require(actor, Role.ADMIN, "add users")
        validate_name("user", name)
        parsed = parse_role(role)
        pw_hash = hash_password(password)
        with self._db.session() as s:
            if s.scalar(select(User.id).where(User.name == name)):
                raise Conflict(f"user {name!r} exists already")
            user = User(name=name, password_hash=pw_hash, role=parsed.value)
            s.add(user)
            s.flush()
            return _record(user)

    def list(self, actor: Actor) -> list[UserRecord]:
        require(actor, Role.ADMIN, "list users")
        with self._db.session() as s:
            return [_record(u) for u in s.scalars(select(User).order_by(User.name))]

    def set_password(self, actor: Actor, name: str, new_password: str) -> None:
        """A user changes their own password; an admin may change anyone's."""
        if actor.name != name:
            require(actor, Role.ADMIN, f"change the password of {name!r}")
        pw_hash = hash_password(new_password)
        with self._db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None:
                raise NotFound(f"no user named {name!r}")
            user.password_hash = pw_hash

    def set_role(self, actor: Actor, name: str, role: str) -> UserRecord:
        require(actor, Role.ADMIN, "change roles")
        parsed = parse_role(role)
        with self._db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None:
                raise NotFound(f"no user named {name!r}")
            if user.role == Role.ADMIN and parsed != Role.ADMIN and self._admins(s) == 1:
                raise InvalidInput(f"{name!r} is the last admin; make another admin first")
            user.role = parsed.value
            return _record(user)

    def remove(self, actor: Actor, name: str) -> None:
        require(actor, Role.ADMIN, "remove users")
        if name == actor.name:
            raise InvalidInput("you cannot remove yourself")
        with self._db.session() as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None:
                raise NotFound(f"no user named {name!r}")
            s.delete(user)

    @staticmethod
    def _admins(s) -> int:
        return s.scalar(select(func.count(User.id)).where(User.role == Role.ADMIN.value)) or 0
