"""Edge tokens: re-issued tokens replace the old at once; Mosquitto files from the CLI."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from app.cli import main
from app.config import Settings
from app.errors import AuthenticationFailed
from app.services import Services
from app.services.security.auth import SYSTEM
from app.services.security.hub_access import HubAccess


def test_a_new_token_replaces_the_old_one(tmp_path):
    settings = Settings.load(data_dir=tmp_path)
    services = Services.open(settings)
    first = services.edges.register(SYSTEM, "pi")
    access = HubAccess.for_settings(services.db, settings)
    device = first.edge.device_id
    assert access.authenticate(device, first.token).node == device
    second = services.edges.issue_token(SYSTEM, "pi")
    assert second.edge.device_id == device and second.token != first.token
    with pytest.raises(AuthenticationFailed, match="revoked"):
        access.authenticate(device, first.token)
    assert access.authenticate(device, second.token).kind == "edge"
    assert access.authenticate("center", settings.hub_token).is_service
    services.close()


def test_mosquitto_files_from_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEDDECK_PASSWORD", "adminpass1")
    cli = ["--data-dir", str(tmp_path / "d")]
    assert main([*cli, "user", "add", "admin", "--role", "admin"]) == 0
    monkeypatch.setenv("FEDDECK_USER", "admin")
    capsys.readouterr()
    assert main([*cli, "edge", "add", "pi", "--json"]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    out = tmp_path / "mosq"
    assert main([*cli, "hub", "mosquitto-config", str(out), "--json"]) == 0
    assert "listener 1883 127.0.0.1\n" in (out / "mosquitto.conf").read_text()  # loopback
    capsys.readouterr()
    listen = ["--listen", "10.0.0.5:1884", "--json"]
    assert main([*cli, "hub", "mosquitto-config", str(out), *listen]) == 0
    assert json.loads(capsys.readouterr().out)["edges"] == 1
    assert (out / "passwords").stat().st_mode & 0o077 == 0  # secrets stay private
    users = dict(line.split(":", 1) for line in (out / "passwords").read_text().splitlines())
    _, alg, rounds, salt, digest = users[token.split(".")[0]].split("$")
    expected = hashlib.pbkdf2_hmac("sha512", token.encode(), base64.b64decode(salt), int(rounds))
    assert alg == "7" and base64.b64encode(expected).decode() == digest
    assert "feddeck-service" in users
    acl = (out / "acl").read_text()
    assert f"topic read fd/edge/{token.split('.')[0]}/control" in acl
    assert "listener 1884 10.0.0.5\n" in (out / "mosquitto.conf").read_text()
    assert main([*cli, "hub", "mosquitto-config", str(out), "--listen", "10.0.0.5:0"]) == 1
    assert "--listen '10.0.0.5:0' must be HOST:PORT" in capsys.readouterr().err
