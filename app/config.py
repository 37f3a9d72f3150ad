"""Settings: where data lives, which database and which hub. Validated on construction.

Precedence: explicit argument (CLI flag) > environment variable > default.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from app.errors import InvalidInput
from app.wire.limits import MiB, WireLimits
from app.wire.transports import validate_hub_url

ENV_DATA_DIR = "FEDDECK_DATA_DIR"
ENV_DB_URL = "FEDDECK_DB_URL"
ENV_HUB_URL = "FEDDECK_HUB_URL"
EDGE_TOKEN_ENV = "FEDDECK_EDGE_TOKEN"  # `feddeck edge`'s token, unseen by `ps`

HUB_SECRET_FILE = "hub.secret"
SERVICE_USER = "feddeck-service"
DEFAULT_HUB_URL = "embedded://mqtt"


@dataclass(frozen=True)
class DirectSettings:
    """`[direct]`: models of at least `min_mib` go straight between a run's server and its
    edges, beside the hub; `host` is where the server listens and what it announces (empty:
    the address this machine reaches the hub from, loopback for a hub on loopback)."""

    enabled: bool = True
    min_mib: float = 4.0
    host: str = ""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    db_url: str
    hub_url: str
    # Chunk size and message size limit, `[wire]` in the file.
    wire: WireLimits = field(default_factory=WireLimits)
    direct: DirectSettings = field(default_factory=DirectSettings)

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def hub_token(self) -> str:
        """The token FedDeck's own nodes (control center, FL servers, CLI) give the hubs
        FedDeck runs; kept in the data dir, readable by its owner only, made on first use."""
        path = self.data_dir / HUB_SECRET_FILE
        try:
            secret = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            secret = ""
        if not secret:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_urlsafe(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secret)
        return f"{SERVICE_USER}.{secret}"

    @classmethod
    def load(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        db_url: str | None = None,
        hub_url: str | None = None,
    ) -> Settings:
        raw_dir = data_dir or os.environ.get(ENV_DATA_DIR) or platformdirs.user_data_dir("feddeck")
        directory = _validate_data_dir(Path(raw_dir).expanduser())
        url = db_url or os.environ.get(ENV_DB_URL) or f"sqlite:///{directory / 'feddeck.db'}"
        saved = _saved_settings(directory)
        hub = hub_url or os.environ.get(ENV_HUB_URL) or saved.get("hub_url") or DEFAULT_HUB_URL
        return cls(
            data_dir=directory,
            db_url=_validate_db_url(url),
            hub_url=validate_hub_url(hub),
            wire=_wire_limits(saved.get("wire", {}), directory / "feddeck.toml"),
            direct=_direct_settings(saved.get("direct", {}), directory / "feddeck.toml"),
        )


def _saved_settings(directory: Path) -> dict:
    """`feddeck.toml` in the data dir, written by the window's settings dialog."""
    import tomllib

    path = directory / "feddeck.toml"
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise InvalidInput(f"settings file {path} is unreadable: {exc}") from exc
    if not isinstance(data.get("hub_url", ""), str):
        raise InvalidInput(f"settings file {path}: hub_url must be a string")
    return data


MAX_CHUNK_KIB = 4032  # gRPC's default frame cap is 4 MiB including framing: stay under it


def _wire_limits(table: object, path: Path) -> WireLimits:
    """`[wire]`: `chunk_kib` (1-4032, default 1024) and `max_message_mib` (default 2048)."""
    if not isinstance(table, dict):
        raise InvalidInput(f"settings file {path}: [wire] must be a table")
    unknown = sorted(set(table) - {"chunk_kib", "max_message_mib"})
    if unknown:
        raise InvalidInput(
            f"settings file {path}: unknown [wire] key(s) {', '.join(unknown)}; "
            "known: chunk_kib, max_message_mib"
        )
    chunk_kib = table.get("chunk_kib", 1024)
    max_mib = table.get("max_message_mib", 2048)
    for name, value, low, high in (
        ("chunk_kib", chunk_kib, 1, MAX_CHUNK_KIB),
        ("max_message_mib", max_mib, 1, 1 << 20),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(
                f"settings file {path}: [wire] {name} must be a whole number from {low} "
                f"to {high}, not {value!r}"
            )
    if max_mib * 1024 < chunk_kib:
        raise InvalidInput(
            f"settings file {path}: [wire] max_message_mib ({max_mib} MiB) is smaller than "
            f"one chunk ({chunk_kib} KiB)"
        )
    default = WireLimits()
    return WireLimits(
        chunk_size=chunk_kib * 1024,
        max_message_size=max_mib * MiB,
        max_pending_bytes=max(default.max_pending_bytes, 2 * max_mib * MiB),
    )


def _direct_settings(table: object, path: Path) -> DirectSettings:
    """`[direct]`: `enabled` (true), `min_mib` (4; 0 sends every model direct), `host`."""
    where = f"settings file {path}: [direct]"
    if not isinstance(table, dict):
        raise InvalidInput(f"{where} must be a table")
    unknown = sorted(set(table) - {"enabled", "min_mib", "host"})
    if unknown:
        raise InvalidInput(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: enabled, min_mib, host"
        )
    default = DirectSettings()
    enabled = table.get("enabled", default.enabled)
    min_mib = table.get("min_mib", default.min_mib)
    host = table.get("host", default.host)
    if not isinstance(enabled, bool):
        raise InvalidInput(f"{where} enabled must be true or false, not {enabled!r}")
    if isinstance(min_mib, bool) or not isinstance(min_mib, int | float) or not min_mib >= 0:
        raise InvalidInput(f"{where} min_mib must be a number of MiB from 0, not {min_mib!r}")
    if not isinstance(host, str) or any(c.isspace() or c in "/[]" for c in host):
        raise InvalidInput(f"{where} host must be a host name or address, not {host!r}")
    return DirectSettings(enabled, float(min_mib), host)


def _validate_data_dir(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"data dir {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"data dir {path} cannot be created: {exc.strerror}") from exc
    if not os.access(path, os.W_OK):
        raise InvalidInput(f"data dir {path} is not writable")
    return path.resolve()


def _validate_db_url(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError
    except ModuleNotFoundError:  # an edge-only install: it never opens the database
        return url

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"database URL {url!r} is not a SQLAlchemy URL") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        parent = Path(parsed.database).expanduser().parent
        if not parent.is_dir():
            raise InvalidInput(f"database URL {url!r}: folder {parent} does not exist")
    return url
