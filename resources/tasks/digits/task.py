"""Built-in task: the digits data set, shared out among the run's edges (a simulation)."""

from app.core.tasks import simulated

DATASET = "digits"


def build_model(config):
    return simulated.build_model(DATASET, config)


def load_data(data_dir, config):
    return simulated.load_data(DATASET, config)


def load_test_data(config):
    return simulated.load_test_data(DATASET, config)
