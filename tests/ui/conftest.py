from contextlib import contextmanager

import pytest
from PySide6.QtWidgets import QApplication

from app.config import Settings
from app.services import Services
from app.storage.models import Role
from app.ui.app import build_context
from app.ui.workers import wait_for_workers


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp):
    """Fail a test that leaves a visible top-level widget behind (qtbot closes its own first)."""
    before = set(QApplication.topLevelWidgets())
    yield
    wait_for_workers()
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    for widget in leaked:
        widget.close()
    assert not leaked, f"widgets left open: {[type(w).__name__ for w in leaked]}"


@pytest.fixture
def deck(tmp_path):
    settings = Settings.load(data_dir=tmp_path / "ui", hub_url="embedded://local")
    services = Services.open(settings)
    services.users.create_first_admin("admin", "adminpass1")
    yield settings, services
    wait_for_workers()
    services.close()


@contextmanager
def _ctx(deck, name, role):
    settings, services = deck
    admin = services.users.login("admin", "adminpass1")
    if name != "admin":
        services.users.add(admin, name, f"{name}pass123", role)
    actor = services.users.login(name, f"{name}pass123" if name != "admin" else "adminpass1")
    ctx = build_context(settings, services, actor)
    ctx.center.start()
    try:
        yield ctx
    finally:
        wait_for_workers()
        ctx.live.close()
        ctx.center.close()


@pytest.fixture
def admin_ctx(deck):
    with _ctx(deck, "admin", Role.ADMIN.value) as ctx:
        yield ctx


@pytest.fixture
def viewer_ctx(deck):
    with _ctx(deck, "vera", Role.VIEWER.value) as ctx:
        yield ctx
