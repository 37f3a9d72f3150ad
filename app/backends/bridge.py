"""Two hubs joined on chosen topics: each chunk crosses unchanged (its sender too), so a
node on one hub is heard on the other as itself. A cluster run's rank 0 joins its job's
rank world to the control center's hub this way."""

from __future__ import annotations

from collections.abc import Iterable

from app.backends.base import BaseHub


def bridge(inner: BaseHub, outer: BaseHub, out: Iterable[str], back: Iterable[str]) -> None:
    """Chunks on `inner` matching a pattern of `out` go on to `outer`, and those on `outer`
    matching `back` come to `inner`. The two lists must not overlap (no echo)."""
    for pattern in out:
        inner.relay(pattern, outer._send_chunk)
    for pattern in back:
        outer.relay(pattern, inner._send_chunk)
