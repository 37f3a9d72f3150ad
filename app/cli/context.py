"""What every command needs: settings, services, and the signed-in acting user."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.config import Settings
from app.errors import AuthenticationFailed, InvalidInput

if TYPE_CHECKING:  # the services (and the database) load on first use: an edge needs neither
    from app.services import Actor, Services

ENV_USER = "FEDDECK_USER"
ENV_PASSWORD = "FEDDECK_PASSWORD"
ENV_NEW_PASSWORD = "FEDDECK_NEW_PASSWORD"


class StdinSecrets:
    """Secrets read one line at a time from stdin, so scripts can pipe two passwords."""

    def next(self, what: str) -> str:
        line = sys.stdin.readline()
        if not line:
            raise InvalidInput(f"{what} expected on stdin (or in the environment); got nothing")
        return line.rstrip("\r\n")


@dataclass
class CliContext:
    settings: Settings
    user_name: str | None
    as_json: bool
    _services: Services | None = None
    _actor: Actor | None = None
    _stdin: StdinSecrets = field(default_factory=StdinSecrets)

    @property
    def services(self) -> Services:
        if self._services is None:
            from app.services import Services

            self._services = Services.open(self.settings)
        return self._services

    def password(self) -> str:
        return os.environ.get(ENV_PASSWORD) or self._stdin.next("password")

    def new_password(self, fallback_to_password: bool = False) -> str:
        env = os.environ.get(ENV_NEW_PASSWORD)
        if env:
            return env
        if fallback_to_password and os.environ.get(ENV_PASSWORD):
            return os.environ[ENV_PASSWORD]
        return self._stdin.next("new password")

    def actor(self) -> Actor:
        if self._actor is None:
            name = self.user_name or os.environ.get(ENV_USER)
            if not name:
                raise AuthenticationFailed(
                    f"this command needs a signed-in user: pass --user or set {ENV_USER}"
                )
            self._actor = self.services.users.login(name, self.password())
        return self._actor

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
