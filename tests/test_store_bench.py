"""bench.store_model's table: every way timed beside its baseline, the stored file read
back by safetensors' own loader under the digest save_weights gave it."""

import json

import pytest

from bench.store_model import main


def test_the_store_bench_times_each_way_beside_its_baseline(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--sizes", "2", "--repeat", "1", "--json"]) == 0
    rows = {r["way"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {
        "write + fsync (baseline)",
        "save: copy, hash, write (before)",
        "save_weights",
        "read (baseline)",
        "load: read, hash, copy out (before)",
        "load_weights",
    }
    assert rows["write + fsync (baseline)"]["vs_baseline"] == 1.0
    assert all(r["seconds"] > 0 and r["mb"] == 2 for r in rows.values())
    assert list(tmp_path.iterdir()) == []  # its files are gone


@pytest.mark.parametrize("argv", [["--sizes", "a"], ["--sizes", "0"], ["--repeat", "0"]])
def test_the_store_bench_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert "--sizes" in capsys.readouterr().err
