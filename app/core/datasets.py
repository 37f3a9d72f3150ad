"""Datasets that ship offline, split once into train and test with a fixed seed.

- digits: scikit-learn's 8x8 handwritten digits (1,797 images, bundled with sklearn).
- mnist1d: MNIST-1D generated locally by `make_dataset` (never its downloader).
- synthetic: a seeded classification problem from `make_classification`.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from app.core.fl_config import DatasetSpec


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # float32, (n, features) or (n, channels, h, w)
    y_train: np.ndarray  # int64
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_test = max(1, round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits as `sklearn.datasets.load_digits` gives them, read straight from the
    file scikit-learn ships: importing scikit-learn costs over a second of a run's start
    on each edge and the server."""
    found = importlib.util.find_spec("sklearn")  # finds the package without importing it
    folder = (
        found.submodule_search_locations[0] if found and found.submodule_search_locations else ""
    )
    path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
    if path.is_file():
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",")
        pixels, target = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
    else:  # a scikit-learn laid out otherwise: its own loader
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels, target = bunch.images, bunch.target
    x = (pixels / 16.0).astype(np.float32)[:, None, :, :]  # (n, 1, 8, 8)
    return x, target.astype(np.int64)


def _mnist1d(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = samples
    args.seed = seed
    args.train_split = 0.5  # FedDeck makes its own split below; keep both halves
    data = make_dataset(args)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)[:, None, :]  # (n, 1, 40)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    return x, y


def _synthetic(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=samples, n_features=20, n_informative=12, n_classes=4, random_state=seed
    )
    return x.astype(np.float32), y.astype(np.int64)


@lru_cache(maxsize=4)
def load_dataset(spec: DatasetSpec, seed: int = 0) -> Dataset:
    if spec.name == "digits":
        x, y = _digits()
    elif spec.name == "mnist1d":
        x, y = _mnist1d(spec.samples, seed)
    else:
        x, y = _synthetic(spec.samples, seed)
    x_tr, y_tr, x_te, y_te = _split(x, y, spec.test_fraction, seed)
    return Dataset(spec.name, x_tr, y_tr, x_te, y_te, int(y.max()) + 1)
