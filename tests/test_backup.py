"""`feddeck db backup` while a run writes, `feddeck db restore` into a new data dir: every
finished run reads back intact; bad files and occupied targets are refused, untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.cli import main
from app.config import Settings
from app.core.artifacts import load_weights
from app.services import Services
from app.services.security.auth import SYSTEM
from tests.fl.test_runs_e2e import make_run as make_run  # a fixture


def snapshot(services: Services, job_id: int) -> dict:
    job = services.jobs.get(SYSTEM, job_id)
    return {
        "job": (job.name, job.status, job.current_round, job.edges, job.config_snapshot),
        "metrics": [
            (m.round, m.node, m.name, m.value) for m in services.run_data.metrics(SYSTEM, job_id)
        ],
        "logs": [(x.node, x.level, x.text) for x in services.run_data.logs(SYSTEM, job_id)],
        "models": [
            (a.round, a.node, a.path, a.sha256) for a in services.run_data.artifacts(SYSTEM, job_id)
        ],
    }


@pytest.mark.slow
def test_a_backup_taken_mid_run_restores_every_finished_run(make_run, tmp_path, capsys):
    run = make_run("local", edges=2, rounds=3)
    run.start()
    assert run.finish().status == "FINISHED"
    finished = run.job_id
    before = snapshot(run.services, finished)
    assert before["metrics"] and before["logs"] and before["models"]
    # A second run writes (metrics, logs, models, heartbeats) while the backup is taken.
    from app.services.runs.demo import DemoOptions, create_demo_job

    run.done.clear()
    run.last_round = 0
    longer = DemoOptions(edges=2, rounds=200, backend="local")
    run.job_id = create_demo_job(run.services, run.cluster.edge_names, longer)
    run.start()
    run.wait_round(1)
    backup_file = tmp_path / "backups" / "deck.db"
    data = str(run.settings.data_dir)
    assert main(["--data-dir", data, "db", "backup", str(backup_file), "--json"]) == 0
    assert run.services.jobs.get(SYSTEM, run.job_id).status == "RUNNING"  # it was mid-run
    assert '"jobs": 2' in capsys.readouterr().out
    run.cluster.launcher.stop(SYSTEM, run.job_id)
    run.finish()

    fresh = tmp_path / "restored"
    assert main(["--data-dir", str(fresh), "db", "restore", str(backup_file)]) == 0
    restored = Services.open(Settings.load(data_dir=fresh))
    try:
        assert snapshot(restored, finished) == before
        for _round, _node, path, sha in before["models"]:
            assert load_weights(Path(path), sha)  # the models it names are intact too
        assert {j.id for j in restored.jobs.list(SYSTEM)} == {finished, run.job_id}
        assert restored.users.has_users() == run.services.users.has_users()
    finally:
        restored.close()


def test_bad_backups_and_occupied_targets_are_refused(tmp_path, capsys):
    deck = tmp_path / "deck"

    def feddeck(*argv) -> tuple[int, str]:
        code = main(["--data-dir", str(deck), *argv])
        return code, capsys.readouterr().err

    assert feddeck("db", "upgrade")[0] == 0
    good = tmp_path / "good.db"
    assert feddeck("db", "backup", str(good))[0] == 0
    code, err = feddeck("db", "backup", str(good))
    assert code == 1 and "exists already; give a new file name" in err

    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(good.read_bytes()[:5000])
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    for bad, said in (
        (text, "is not a SQLite database"),
        (truncated, "damaged"),
        (foreign, "not FedDeck's"),
        (tmp_path / "missing.db", "cannot read"),
    ):
        code, err = feddeck(
            "--data-dir", str(tmp_path / f"new-{bad.stem}"), "db", "restore", str(bad)
        )
        assert code == 1 and said in err, err
        assert not (tmp_path / f"new-{bad.stem}" / "feddeck.db").exists()

    db_file = deck / "feddeck.db"
    kept = db_file.read_bytes()
    code, err = feddeck("db", "restore", str(good))  # this data dir has its database
    assert code == 1 and "exists already; restore into a data dir without a database" in err
    assert db_file.read_bytes() == kept

    code, err = feddeck("--db-url", "postgresql://u@localhost/feddeck", "db", "restore", str(good))
    assert code == 1 and "use pg_dump / pg_restore" in err
