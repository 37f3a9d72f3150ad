"""Torch's one-time costs, paid while a process is idle rather than in a run's first round:
importing torch, the optimisers' first steps, the autograd engine's start, and FedDeck's
task runtime. An edge agent calls this once it is connected, a standby FL server before it
is handed a run."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_done: set[bool] = set()  # which warm-ups ran: with the optimisers (True), without


def warm_up(train: bool = True) -> None:
    """Idempotent and thread-safe: a second call returns once the first is done. `train`:
    the optimisers too (an edge); a server only evaluates."""
    with _lock:
        if train in _done or True in _done:
            return
        import torch
        from torch import nn

        import app.core.tasks.runtime
        import app.core.training  # noqa: F401  (with the task runtime: numpy, torch.utils)
        from app.core.fl_config import TrainingSpec
        from app.core.optimizers import Optimizer

        model = nn.Linear(4, 2)
        for kind in ("sgd", "adam") if train else ():
            opt = Optimizer(model.parameters(), TrainingSpec(optimizer=kind), lr=0.01)
            loss = nn.functional.cross_entropy(model(torch.zeros(2, 4)), torch.tensor([0, 1]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            model(torch.zeros(1, 4))
        _done.add(train)
