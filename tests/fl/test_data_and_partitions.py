import numpy as np
import pytest

from app.core.datasets import load_dataset
from app.core.fl_config import DatasetSpec, PartitionSpec
from app.core.partition import partition


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DatasetSpec(name="digits"), 0)


def test_digits_ships_offline_and_splits(digits):
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert digits.x_train.min() >= 0.0 and digits.x_train.max() <= 1.0


def test_digits_read_from_the_file_are_scikit_learns():
    from sklearn.datasets import load_digits

    from app.core.datasets import _digits

    x, y = _digits()
    bunch = load_digits()
    assert np.array_equal(x[:, 0], (bunch.images / 16.0).astype(np.float32))
    assert np.array_equal(y, bunch.target) and y.dtype == np.int64


@pytest.mark.parametrize("name", ["mnist1d", "synthetic"])
def test_other_datasets(name):
    data = load_dataset(DatasetSpec(name=name, samples=400), 1)
    assert len(data.x_train) + len(data.x_test) == 400
    assert data.num_classes == (10 if name == "mnist1d" else 4)


@pytest.mark.parametrize("kind", ["iid", "dirichlet", "shards"])
def test_partitions_cover_the_data_once(digits, kind):
    parts = partition(digits.y_train, 5, PartitionSpec(kind=kind, alpha=0.5, seed=3))
    joined = np.concatenate(parts)
    assert len(joined) == len(digits.y_train) == len(np.unique(joined))
    assert all(len(p) > 0 for p in parts)
    again = partition(digits.y_train, 5, PartitionSpec(kind=kind, alpha=0.5, seed=3))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))


def test_dirichlet_alpha_controls_skew(digits):
    def skew(alpha):
        parts = partition(digits.y_train, 4, PartitionSpec(kind="dirichlet", alpha=alpha, seed=0))
        # mean over clients of the share of their most common label
        return np.mean([np.bincount(digits.y_train[p]).max() / len(p) for p in parts])

    assert skew(0.05) > skew(100.0) + 0.3


def test_shards_give_few_labels_per_client(digits):
    def labels(kind):
        parts = partition(digits.y_train, 5, PartitionSpec(kind=kind, shards_per_client=2))
        return [len(np.unique(digits.y_train[p])) for p in parts]

    # Two shards of label-sorted data each span two or three labels; IID sees all ten.
    assert max(labels("shards")) <= 6 and np.mean(labels("shards")) <= 4.5
    assert min(labels("iid")) == 10


def test_too_many_clients_refused(digits):
    with pytest.raises(ValueError, match="training samples"):
        partition(digits.y_train[:3], 5, PartitionSpec())
