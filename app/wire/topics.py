"""The topic scheme every node uses. MQTT syntax: `/` levels, `+` one level, `#` the rest.

    fd/edge/<node>/<kind>                       an edge's own channel (status, system, control);
                                                edges serve many projects, so no project level
    fd/<project>/run/<run>/<node>/<kind>        a run's traffic, per node
        kind: status | system | metrics | logs | model/up | model/down | control | artifacts
    fd/<project>/run/<run>/<node>/inbox/<from>  a server-free run: what <from> pushes to
                                                <node>, one of its out-neighbours
    fd/center/launch, fd/center/reply/<id>      runs a FedDeck command asks a running control
                                                center to start (services only)

`<node>` is an edge's device id, or "server" for a run's aggregator, or "center" for the
control center. Scoping by project then node is what the hub's access rules key on.
"""

from __future__ import annotations

import re

ROOT = "fd"
SERVER = "server"
CENTER = "center"
KINDS = ("status", "system", "metrics", "logs", "model/up", "model/down", "control", "artifacts")
_LEVEL = re.compile(r"^[A-Za-z0-9_.-]+$")


def _level(value: object, what: str) -> str:
    text = str(value)
    if not _LEVEL.match(text):
        raise ValueError(f"{what} {text!r} cannot be a topic level")
    return text


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown topic kind {kind!r}")
    return kind


def edge_topic(node: str, kind: str) -> str:
    return f"{ROOT}/edge/{_level(node, 'node')}/{_kind(kind)}"


def edge_pattern(node: str = "+", kind: str = "#") -> str:
    return f"{ROOT}/edge/{node}/{kind}"


CENTER_LAUNCH = f"{ROOT}/{CENTER}/launch"


def center_reply(request: str) -> str:
    return f"{ROOT}/{CENTER}/reply/{_level(request, 'request')}"


def run_topic(project: str, job_id: int, node: str, kind: str) -> str:
    return (
        f"{ROOT}/{_level(project, 'project')}/run/{_level(job_id, 'run')}/"
        f"{_level(node, 'node')}/{_kind(kind)}"
    )


def inbox_topic(project: str, job_id: int, node: str, sender: str) -> str:
    """Where `sender` pushes its model to `node` in a server-free run: the sender is in the
    topic, so the hub's access rules (not the sender's word) say who sent it."""
    return f"{run_topic(project, job_id, node, 'control').rsplit('/', 1)[0]}/inbox/" + _level(
        sender, "node"
    )


def run_pattern(project: str, job_id: int | str = "+", node: str = "+", kind: str = "#") -> str:
    """Subscription filter for a run's traffic; defaults match every node and kind."""
    return f"{ROOT}/{project}/run/{job_id}/{node}/{kind}"


def validate_pattern(pattern: str) -> str:
    levels = pattern.split("/")
    if not pattern or any(not lvl for lvl in levels):
        raise ValueError(f"topic filter {pattern!r} has an empty level")
    for i, lvl in enumerate(levels):
        if "#" in lvl and (lvl != "#" or i != len(levels) - 1):
            raise ValueError(f"topic filter {pattern!r}: '#' must be a whole last level")
        if "+" in lvl and lvl != "+":
            raise ValueError(f"topic filter {pattern!r}: '+' must be a whole level")
    return pattern


def matches(pattern: str, topic: str) -> bool:
    p_levels, t_levels = pattern.split("/"), topic.split("/")
    for i, p in enumerate(p_levels):
        if p == "#":
            return True
        if i >= len(t_levels) or (p != "+" and p != t_levels[i]):
            return False
    return len(p_levels) == len(t_levels)
