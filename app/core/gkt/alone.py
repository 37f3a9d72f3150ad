"""What FedGKT is measured against: the same small CNN an edge trains, trained alone on that
edge's partition (no server, no distillation), round for round as the edge would."""

from __future__ import annotations

import torch

from app.core.datasets import load_dataset
from app.core.fl_config import FLConfig
from app.core.gkt.distill import forward, scores, train
from app.core.gkt.models import EdgeNet, input_shape_of
from app.core.tasks import simulated


def train_alone(config: FLConfig, partition: int, parts: int) -> dict[str, float]:
    """Test accuracy and loss of the edge CNN trained `rounds` times `local_epochs` epochs
    on partition `partition` of `parts` only, seeded as that edge's CNN in a FedGKT run."""
    cfg = config.training
    name = config.dataset.name
    task_config = {
        **config.model_dump(mode="json"),
        "seed": cfg.seed,
        "partition": partition,
        "num_partitions": parts,
    }
    (x, y), _ = simulated.load_data(name, task_config)
    x_test, y_test = simulated.load_test_data(name, task_config)
    data = load_dataset(config.dataset, cfg.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as on an edge: the same sums in the same order
    try:
        torch.manual_seed(cfg.seed)
        model = EdgeNet(input_shape_of(data.input_shape), data.num_classes)
        for rnd in range(1, cfg.rounds + 1):
            train(
                model,
                x,
                y,
                None,
                epochs=cfg.local_epochs,
                batch_size=cfg.batch_size,
                lr=cfg.lr_at(rnd),
                momentum=cfg.momentum,
                temperature=1.0,
                alpha=0.0,
                seed=cfg.edge_seed(rnd, partition),
            )
        return scores(forward(model, x_test), y_test)
    finally:
        torch.set_num_threads(threads)
