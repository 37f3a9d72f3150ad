"""Data loaders a task can use as they are: a CSV table (label column by name), an NPZ file
(arrays `x` and `y`) and an image folder (one sub-folder per class). The built-in tasks
`csv-mlp`, `npz-mlp` and `image-folder` federate such data with no code of one's own.

Each reads either a folder with `train.*` and `validation.*` (or `train/`, `validation/`
for images), or one file or folder that is split here: the last `validation_fraction`
of a seeded shuffle is held out. Labels are integers 0…classes-1, or names given in order
by `labels` (so that every edge maps a name to the same class)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from app.errors import InvalidInput

Arrays = tuple[np.ndarray, np.ndarray]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff"}


def _label(value: str, labels: Sequence[str] | None, where: str) -> int:
    if labels:
        try:
            return list(labels).index(value)
        except ValueError:
            raise InvalidInput(f"{where}: label {value!r} is not one of {list(labels)}") from None
    try:
        return int(float(value))
    except ValueError:
        raise InvalidInput(f"{where}: label {value!r} is not a class number") from None


def load_csv(path: Path, label_column: str, labels: Sequence[str] | None = None) -> Arrays:
    """Every column but `label_column` is a number feature."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or label_column not in reader.fieldnames:
                raise InvalidInput(f"{path}: no column {label_column!r} (has {reader.fieldnames})")
            features = [c for c in reader.fieldnames if c != label_column]
            xs, ys = [], []
            for line, row in enumerate(reader, start=2):
                where = f"{path} line {line}"
                ys.append(_label(row[label_column], labels, where))
                try:
                    xs.append([float(row[c]) for c in features])
                except (TypeError, ValueError):
                    raise InvalidInput(f"{where}: a feature is not a number") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    if not ys:
        raise InvalidInput(f"{path}: no rows")
    return np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.int64)


def load_npz(path: Path) -> Arrays:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "x" not in data or "y" not in data:
                raise InvalidInput(f"{path}: needs arrays 'x' and 'y' (has {sorted(data)})")
            x, y = data["x"], data["y"]
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    if len(x) != len(y):
        raise InvalidInput(f"{path}: {len(x)} inputs but {len(y)} labels")
    return x.astype(np.float32), y.astype(np.int64)


def load_image_folder(
    path: Path, size: Sequence[int], channels: int, labels: Sequence[str] | None = None
) -> Arrays:
    """`path/<class>/<image>`: images scaled to `size` (height, width), values 0-1, shaped
    (n, channels, height, width). Classes are the sub-folders' names, sorted, unless
    `labels` names them."""
    from PIL import Image, UnidentifiedImageError

    folders = sorted(p for p in Path(path).iterdir() if p.is_dir()) if Path(path).is_dir() else []
    if not folders:
        raise InvalidInput(f"{path}: no class sub-folders")
    names = list(labels) if labels else [f.name for f in folders]
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise InvalidInput(f"channels must be 1 or 3, not {channels}")
    height, width = (int(v) for v in size)
    xs, ys = [], []
    for folder in folders:
        label = _label(folder.name, names, str(folder))
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as img:
                    pixels = np.asarray(img.convert(mode).resize((width, height)), np.float32)
            except (OSError, UnidentifiedImageError) as exc:
                raise InvalidInput(f"{file}: not an image ({exc})") from None
            xs.append(pixels.reshape(height, width, channels).transpose(2, 0, 1) / 255.0)
            ys.append(label)
    if not ys:
        raise InvalidInput(f"{path}: no images")
    return np.stack(xs).astype(np.float32), np.asarray(ys, dtype=np.int64)


def train_and_validation(
    data_dir: Path | None,
    suffix: str,
    read: Callable[[Path], Arrays],
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[Arrays, Arrays]:
    """`data_dir/train<suffix>` and `validation<suffix>` if there, else `data_dir` itself
    (or its one `*<suffix>`) split."""
    if data_dir is None:
        raise InvalidInput("this task reads the edge's data: start the edge with --data")
    data_dir = Path(data_dir)
    train, validation = data_dir / f"train{suffix}", data_dir / f"validation{suffix}"
    if train.exists():
        return read(train), (read(validation) if validation.exists() else _empty(read(train)))
    whole = data_dir
    if data_dir.is_dir() and suffix:
        found = sorted(data_dir.glob(f"*{suffix}"))
        if len(found) != 1:
            raise InvalidInput(f"{data_dir}: expected train{suffix} or one *{suffix} file")
        whole = found[0]
    x, y = read(whole)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = len(y) - round(len(y) * validation_fraction)
    return (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])


def _empty(like: Arrays) -> Arrays:
    return like[0][:0], like[1][:0]


def standardize(train: Arrays, validation: Arrays) -> tuple[Arrays, Arrays]:
    """Scale features by the training split's own mean and spread (this edge's only)."""
    mean, std = train[0].mean(0), train[0].std(0) + 1e-6
    return ((train[0] - mean) / std, train[1]), ((validation[0] - mean) / std, validation[1])
