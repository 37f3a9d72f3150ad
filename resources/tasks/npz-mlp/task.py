"""Built-in task: an MLP on each edge's own NPZ arrays. `[task.params]` gives `features`
(x's size per sample) and `classes`; `[model] hidden` sizes the MLP."""

from app.core.tasks import loaders, tabular


def build_model(config):
    return tabular.mlp(config)


def load_data(data_dir, config):
    return tabular.split(data_dir, ".npz", loaders.load_npz, config)
