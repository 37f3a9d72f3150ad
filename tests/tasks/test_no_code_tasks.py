"""The built-in no-code tasks: a CSV table and an image folder per edge federate without
a line of Python, from the example data `feddeck task example-data` writes."""

import numpy as np
import pytest

from app.core.fl_config import config_from_toml
from app.core.tasks import loaders
from app.core.tasks.examples import write_example
from app.errors import InvalidInput
from app.services.security.auth import SYSTEM


@pytest.mark.parametrize(
    ("example", "key", "floor"), [("wine", "csv", 0.85), ("digits-images", "images", 0.8)]
)
def test_example_data_federates_with_a_builtin_task(make_center, tmp_path, example, key, floor):
    config_file = write_example(example, tmp_path / example, sites=3)
    center = make_center("local")
    config = center.services.configs.save(SYSTEM, config_from_toml(config_file.read_text()))
    names = ["s1", "s2", "s3"]
    for i, name in enumerate(names, 1):
        center.edge(name, data={key: tmp_path / example / f"site-{i}"})  # built in: no trust
    center.wait_online(names)
    job = center.run(config.name, names)
    assert job.status == "FINISHED", job.status_reason
    assert job.task_version == 0  # built in
    final = {
        m.name: m.value
        for m in center.services.run_data.metrics(SYSTEM, job.id)
        if m.node == "aggregate"
    }
    assert final["fed_val_accuracy"] >= floor, final
    assert "test_accuracy" not in final  # the server holds no data of these tasks


def test_csv_errors_name_the_file_and_line(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n1,2,0\n3,x,1\n")
    with pytest.raises(InvalidInput, match=r"t\.csv line 3: a feature is not a number"):
        loaders.load_csv(table, "label")
    with pytest.raises(InvalidInput, match="no column 'target'"):
        loaders.load_csv(table, "target")
    table.write_text("a,label\n1,red\n")
    with pytest.raises(InvalidInput, match="label 'red' is not one of"):
        loaders.load_csv(table, "label", labels=["blue"])
    assert loaders.load_csv(table, "label", labels=["blue", "red"])[1].tolist() == [1]


def test_npz_and_image_folders_are_checked(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)))
    with pytest.raises(InvalidInput, match="needs arrays 'x' and 'y'"):
        loaders.load_npz(tmp_path / "d.npz")
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    (tmp_path / "imgs" / "cat" / "a.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInput, match="not an image"):
        loaders.load_image_folder(tmp_path / "imgs", (8, 8), 1)


def test_a_single_file_is_split_into_training_and_validation(tmp_path):
    np.savez(tmp_path / "all.npz", x=np.arange(20.0).reshape(10, 2), y=np.arange(10) % 2)
    (x, y), (vx, vy) = loaders.train_and_validation(tmp_path, ".npz", loaders.load_npz, 0.3, 0)
    assert (len(y), len(vy)) == (7, 3)
    assert sorted(np.concatenate([x[:, 0], vx[:, 0]]).tolist()) == list(np.arange(0.0, 20.0, 2))
