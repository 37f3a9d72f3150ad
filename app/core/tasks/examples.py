"""Example data for the no-code tasks, made offline from data sets scikit-learn ships: one
folder per site, as a lab's sites would each hold their own, and a config that federates
it. `feddeck task example-data wine DIR` / `digits-images DIR`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from app.errors import InvalidInput

EXAMPLES = {
    "wine": "scikit-learn's wine table (13 measurements, 3 cultivars) as CSV: task csv-mlp",
    "digits-images": "scikit-learn's digits as PNG files, a folder per class: task image-folder",
}

WINE_CONFIG = """name = "wine-csv-mlp"
description = "Wine cultivars from 13 measurements, each site's own CSV, no code"

[task]
name = "csv-mlp"
params = {{ features = 13, classes = 3, label_column = "cultivar" }}

[model]
hidden = [32]

[algorithm]
name = "fedavg"

[training]
rounds = 20
local_epochs = 2
batch_size = 16
lr = 0.05
min_clients = {sites}
"""

DIGITS_CONFIG = """name = "digits-image-folder"
description = "Handwritten digits from each site's own PNG files, a small CNN, no code"

[task]
name = "image-folder"
params = {{ classes = 10, size = [8, 8], channels = 1 }}

[model]
hidden = [64]

[algorithm]
name = "fedavg"

[training]
rounds = 10
local_epochs = 2
batch_size = 32
lr = 0.05
min_clients = {sites}
"""


def _sites(n: int, count: int, seed: int) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(n), count)


def write_wine(root: Path, sites: int, seed: int = 0) -> Path:
    from sklearn.datasets import load_wine

    data = load_wine()
    columns = [name.replace("/", "_") for name in data.feature_names]
    for i, part in enumerate(_sites(len(data.target), sites, seed), 1):
        folder = root / f"site-{i}"
        folder.mkdir(parents=True, exist_ok=True)
        cut = int(len(part) * 0.8)
        for split, rows in (("train", part[:cut]), ("validation", part[cut:])):
            with open(folder / f"{split}.csv", "w", newline="") as f:
                out = csv.writer(f)
                out.writerow([*columns, "cultivar"])
                out.writerows([*(f"{v:.6g}" for v in data.data[r]), data.target[r]] for r in rows)
    config = root / "wine-csv-mlp.toml"
    config.write_text(WINE_CONFIG.format(sites=sites))
    return config


def write_digits_images(root: Path, sites: int, seed: int = 0) -> Path:
    from PIL import Image
    from sklearn.datasets import load_digits

    data = load_digits()
    for i, part in enumerate(_sites(len(data.target), sites, seed), 1):
        cut = int(len(part) * 0.8)
        for split, rows in (("train", part[:cut]), ("validation", part[cut:])):
            for r in rows:
                folder = root / f"site-{i}" / split / str(data.target[r])
                folder.mkdir(parents=True, exist_ok=True)
                pixels = (data.images[r] * (255 / 16)).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(folder / f"{r:04d}.png")
    config = root / "digits-image-folder.toml"
    config.write_text(DIGITS_CONFIG.format(sites=sites))
    return config


def write_example(name: str, root: Path, sites: int) -> Path:
    """Writes the sites' folders under `root`; returns the config's path."""
    if name not in EXAMPLES:
        raise InvalidInput(f"unknown example {name!r}: use one of {', '.join(EXAMPLES)}")
    if not 1 <= sites <= 16:
        raise InvalidInput("--sites must be between 1 and 16")
    if root.exists() and any(root.iterdir()):
        raise InvalidInput(f"{root} is not empty")
    root.mkdir(parents=True, exist_ok=True)
    return (write_wine if name == "wine" else write_digits_images)(root, sites)
