"""Built-in task: an MLP on each edge's own CSV table. `[task.params]` gives `features`
(the number of feature columns) and `classes`; `[model] hidden` sizes the MLP."""

from app.core.tasks import loaders, tabular


def build_model(config):
    return tabular.mlp(config)


def load_data(data_dir, config):
    def read(path):
        return loaders.load_csv(path, config["label_column"], config.get("labels"))

    return tabular.split(data_dir, ".csv", read, config)
