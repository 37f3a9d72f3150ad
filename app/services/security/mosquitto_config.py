"""Password and ACL files for an external Mosquitto broker, generated from the database.

The same rules as the hubs FedDeck runs (see hub_access): an edge logs in with its own
token and may publish only under its own device id and read only its control topic and
the server's topics of the projects whose runs it takes part in; FedDeck's services log
in as `feddeck-service` with the data dir's hub token and may do everything.

Mosquitto stores salted PBKDF2-SHA512 hashes (`$7$`), which cannot be derived from the
SHA-256 FedDeck keeps of a token; so each edge's Mosquitto hash is made when its token is
issued. Run again after edges join runs of a new project, then `kill -HUP` Mosquitto
(it rereads both files).
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
from pathlib import Path

from sqlalchemy import select

from app.config import SERVICE_USER, Settings
from app.core.peer.graph import peer_links
from app.errors import InvalidInput
from app.storage import Database
from app.storage.models import Edge, Job, JobEdge, Project

PBKDF2_ITERATIONS = 1000
EDGE_WRITES_OWN = ("status", "system")
EDGE_WRITES_RUN = ("status", "metrics", "logs", "model/up")
EDGE_READS_RUN = ("model/down", "control")


def mosquitto_hash(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto 2's `$7$` password hash: PBKDF2-HMAC-SHA512, 12-byte salt, base64."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _readable_by_broker(*paths: Path) -> str | None:
    """Mosquitto started as root (as a lab's service is) drops to its own `mosquitto` user
    before it reads these files: hand them to that user, still readable by no one else.
    Returns the owner given, if any."""
    if os.geteuid() != 0:
        return None
    try:
        broker = pwd.getpwnam("mosquitto")
    except KeyError:
        return None
    for path in paths:
        os.chown(path, broker.pw_uid, broker.pw_gid)
    return broker.pw_name


def _peer_inboxes(s) -> dict[str, list[str]]:
    """For each edge, the ACL lines of the server-free runs not yet ended it is in: write to
    each out-neighbour's inbox, read its own from each in-neighbour."""
    lines: dict[str, list[str]] = {}
    jobs = s.execute(
        select(Job.id, Project.name, Job.config_snapshot)
        .join(Project, Project.id == Job.project_id)
        .where(Job.finished_at.is_(None))
    ).all()
    for job_id, project, snapshot in jobs:
        devices = dict(
            s.execute(
                select(Edge.name, Edge.device_id)
                .join(JobEdge, JobEdge.edge_id == Edge.id)
                .where(JobEdge.job_id == job_id)
            ).all()
        )
        for a, b in sorted(peer_links(snapshot, devices)):
            lines.setdefault(a, []).append(f"topic write fd/{project}/run/{job_id}/{b}/inbox/{a}")
            lines.setdefault(b, []).append(f"topic read fd/{project}/run/{job_id}/{b}/inbox/{a}")
    return lines


def write_mosquitto_config(
    db: Database, settings: Settings, directory: Path, port: int, host: str = "127.0.0.1"
) -> dict:
    """The three files in `directory`; the broker listens on `host`:`port` (loopback unless
    the operator names an address edges reach)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {directory}: {exc.strerror}") from exc
    with db.session() as s:
        edges = s.execute(
            select(Edge.name, Edge.device_id, Edge.mqtt_password_hash).order_by(Edge.name)
        ).all()
        memberships = s.execute(
            select(Edge.device_id, Project.name)
            .join(JobEdge, JobEdge.edge_id == Edge.id)
            .join(Job, Job.id == JobEdge.job_id)
            .join(Project, Project.id == Job.project_id)
            .distinct()
        ).all()
        inboxes = _peer_inboxes(s)
    projects: dict[str, set[str]] = {}
    for device_id, project in memberships:
        projects.setdefault(device_id, set()).add(project)

    passwords = [f"{SERVICE_USER}:{mosquitto_hash(settings.hub_token)}"]
    acl = ["# FedDeck services: everything", f"user {SERVICE_USER}", "topic readwrite fd/#", ""]
    missing = []
    for name, device_id, mqtt_hash in edges:
        if not mqtt_hash:
            missing.append(name)
            continue
        passwords.append(f"{device_id}:{mqtt_hash}")
        acl += [f"# edge {name}", f"user {device_id}"]
        acl += [f"topic write fd/edge/{device_id}/{kind}" for kind in EDGE_WRITES_OWN]
        acl.append(f"topic read fd/edge/{device_id}/control")
        for project in sorted(projects.get(device_id, ())):
            acl += [f"topic write fd/{project}/run/+/{device_id}/{k}" for k in EDGE_WRITES_RUN]
            acl += [f"topic read fd/{project}/run/+/server/{k}" for k in EDGE_READS_RUN]
        acl += inboxes.get(device_id, [])
        acl.append("")
    _write_private(directory / "passwords", "\n".join(passwords) + "\n")
    _write_private(directory / "acl", "\n".join(acl))
    owner = _readable_by_broker(directory / "passwords", directory / "acl")
    conf = directory / "mosquitto.conf"
    conf.write_text(
        f"# generated by `feddeck hub mosquitto-config`\n"
        f"listener {port} {host}\n"
        "allow_anonymous false\n"
        f"password_file {directory.resolve() / 'passwords'}\n"
        f"acl_file {directory.resolve() / 'acl'}\n"
    )
    return {
        "directory": str(directory),
        "config": str(conf),
        "listen": f"{host}:{port}",
        "edges": len(edges) - len(missing),
        "edges_without_mqtt_password": missing,
        "files_owned_by": owner or "this user",
    }
