"""The sizes every hub enforces, apart from the code that enforces them (which needs numpy):
the settings read them on every command."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class WireLimits:
    """Sizes every hub enforces. `chunk_size` counts data bytes per chunk."""

    chunk_size: int = 1 * MiB
    max_message_size: int = 2048 * MiB
    max_pending_bytes: int = 4096 * MiB  # incomplete messages held at once, all senders
    stall_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.chunk_size < 1024:
            raise ValueError("chunk_size must be at least 1 KiB")
        if self.max_message_size < self.chunk_size:
            raise ValueError("max_message_size must be at least chunk_size")
