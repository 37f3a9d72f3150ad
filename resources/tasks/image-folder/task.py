"""Built-in task: a small CNN on each edge's own folder of images."""

from app.core.tasks import loaders, tabular


def build_model(config):
    return tabular.cnn(config)


def load_data(data_dir, config):
    def read(path):
        return loaders.load_image_folder(
            path, config["size"], int(config["channels"]), config.get("labels")
        )

    return tabular.split(data_dir, "", read, {**config, "standardize": False})
