"""Shared test data."""

SAMPLE_CONFIG = {
    "name": "digits-mlp",
    "description": "first",
    "model": {"kind": "mlp", "hidden": [32]},
    "dataset": {"name": "digits"},
    "partitioning": {"kind": "dirichlet", "alpha": 0.5},
    "algorithm": {"name": "fedavg"},
    "training": {"rounds": 2, "local_epochs": 1, "lr": 0.05, "min_clients": 2},
}
