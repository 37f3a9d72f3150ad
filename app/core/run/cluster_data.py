"""A cluster data map: which data each rank trains on, as `--data KEY=PATH` gives it to an
edge agent. A TOML file of tables named by host (every rank on that host) or by rank
(`node7-r3`, before its host's table):

    [node1]
    images = "/data/lab/images"
    ["node2-r4"]
    images = "/scratch/images-b"

The paths are the nodes' own: they are checked by each rank as it starts."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from app.errors import InvalidInput

_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_RANK = re.compile(r"-r\d+$")


def read_data_map(path: Path) -> dict[str, dict[str, str]]:
    try:
        raw = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise InvalidInput(f"data map {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"data map {path}: not TOML ({exc})") from None
    if not raw:
        raise InvalidInput(f"data map {path} names no host")
    for name, table in raw.items():
        if not isinstance(table, dict) or not table:
            raise InvalidInput(f'data map {path}: [{name}] must be a table of KEY = "PATH" lines')
        for key, value in table.items():
            if not _KEY.match(key) or not isinstance(value, str) or not value:
                raise InvalidInput(
                    f'data map {path}: [{name}] {key}: give KEY = "PATH" (the key of '
                    "letters, digits, . _ -)"
                )
    return raw


def hosts_without_data(data_map: dict[str, dict[str, str]], hosts: list[str]) -> list[str]:
    """The hosts the map has neither a table for nor a table for one of its ranks."""
    named = set(data_map) | {_RANK.sub("", name) for name in data_map}
    return [host for host in dict.fromkeys(hosts) if host not in named]


def data_of(data_map: dict[str, dict[str, str]], host: str, node: str) -> list[str]:
    """A rank's `KEY=PATH` options: its own table, else its host's."""
    table = data_map.get(node, data_map.get(host, {}))
    return [f"{key}={path}" for key, path in table.items()]


def encode(data_map: dict[str, dict[str, str]]) -> str:
    return json.dumps(data_map, separators=(",", ":"))
