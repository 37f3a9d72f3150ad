"""What every page gets: settings, services, the signed-in user, the live control center."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.services import Actor, Services
from app.services.runs.control_center import ControlCenter
from app.services.security.auth import Role
from app.ui.bridge import LiveBridge


@dataclass
class UiContext:
    settings: Settings
    services: Services
    actor: Actor
    center: ControlCenter
    live: LiveBridge

    def can(self, role: str | Role) -> bool:
        return self.actor.can(Role(role))
