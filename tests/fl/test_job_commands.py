"""`feddeck job logs|stop` and `feddeck demo --json` from the command line."""

import json

from app.cli import main
from app.config import Settings
from app.services.runs.demo import DemoOptions, run_demo


def test_demo_json_then_logs_and_stop(tmp_path, monkeypatch, capsys):
    data = tmp_path / "deck"
    assert (
        main(
            [
                "--data-dir",
                str(data),
                "demo",
                "--headless",
                "--edges",
                "2",
                "--rounds",
                "2",
                "--backend",
                "local",
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "FINISHED" and summary["rounds"] == 2
    assert (
        summary["counts"]["aggregate_artifacts"] == 2 and summary["counts"]["client_artifacts"] == 4
    )

    monkeypatch.setenv("FEDDECK_PASSWORD", "adminpass1")
    assert main(["--data-dir", str(data), "user", "add", "admin", "--role", "admin"]) == 0
    monkeypatch.setenv("FEDDECK_USER", "admin")
    capsys.readouterr()
    assert main(["--data-dir", str(data), "job", "logs", "1", "--node", "server", "--json"]) == 0
    lines = json.loads(capsys.readouterr().out)
    assert lines and {line["node"] for line in lines} == {"server"}
    assert any("round 2/2" in line["text"] for line in lines)
    assert main(["--data-dir", str(data), "job", "logs", "1", "--level", "LOUD"]) == 1
    assert "unknown log level" in capsys.readouterr().err

    # every figure per round from the shell: the aggregate's, then each edge's
    assert main(["--data-dir", str(data), "job", "metrics", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    aggregate = [r for r in rows if r["node"] == "aggregate"]
    assert [r["round"] for r in aggregate] == [1, 2]
    assert all(0 < r["test_accuracy"] <= 1 and r["model_bytes"] > 0 for r in aggregate)
    edges = {r["node"] for r in rows} - {"aggregate"}
    assert edges == {"demo-edge-1", "demo-edge-2"}
    assert all("train_loss" in r for r in rows if r["node"] != "aggregate")
    assert main(["--data-dir", str(data), "job", "metrics", "1", "--node", "demo-edge-2"]) == 0
    table = capsys.readouterr().out
    assert "TRAIN_LOSS" in table and "demo-edge-1" not in table and "aggregate" not in table
    assert main(["--data-dir", str(data), "job", "metrics", "1", "--node", "nope"]) == 1
    assert "it has: aggregate, demo-edge-1, demo-edge-2" in capsys.readouterr().err

    # a queued job is cancelled without any hub
    assert (
        main(
            [
                "--data-dir",
                str(data),
                "job",
                "create",
                "q",
                "--project",
                "demo",
                "--config",
                "demo-digits-fedavg",
                "--edge",
                "demo-edge-1",
                "--edge",
                "demo-edge-2",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["--data-dir", str(data), "job", "stop", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "STOPPED"
    assert main(["--data-dir", str(data), "job", "stop", "2"]) == 1
    assert "already STOPPED" in capsys.readouterr().err


def test_demo_refuses_bad_options(tmp_path):
    import pytest

    from app.errors import InvalidInput

    with pytest.raises(InvalidInput, match="--edges"):
        run_demo(Settings.load(data_dir=tmp_path), DemoOptions(edges=0))


def test_job_start_exits_by_how_the_run_ended(tmp_path, monkeypatch, capsys):
    """A script can tell: 0 FINISHED, 3 FAILED (here: a stored task that fails its check),
    4 STOPPED; the reason of a run that did not finish is on stderr."""
    from sqlalchemy import select, update

    from app.cli import RUN_EXIT_CODES, run_exit_code
    from app.core.fl_config import config_from_toml
    from app.services import Services
    from app.services.security.auth import SYSTEM
    from app.storage.models import Task
    from tests.tasks.test_task_checks import make_task

    settings = Settings.load(data_dir=tmp_path / "deck")
    services = Services.open(settings)
    services.users.create_first_admin("root", "rootpass123")
    services.groups.add(SYSTEM, "lab")
    services.projects.create(SYSTEM, "lab", "lab")
    services.edges.register(SYSTEM, "e1")
    services.tasks.add(SYSTEM, make_task(tmp_path / "tiny"))
    services.configs.save(SYSTEM, config_from_toml('name = "c"\n[task]\nname = "tiny"\n'))
    job = services.jobs.create(SYSTEM, "run", "lab", "c", ["e1"])
    with services.db.session() as s:
        altered = bytearray(s.scalar(select(Task.archive)))
        altered[700] ^= 1
        s.execute(update(Task).values(archive=bytes(altered)))
    services.close()
    monkeypatch.setenv("FEDDECK_USER", "root")
    monkeypatch.setenv("FEDDECK_PASSWORD", "rootpass123")
    code = main(["--data-dir", str(settings.data_dir), "job", "start", str(job.id), "--json"])
    out, err = capsys.readouterr()
    assert code == 3, err[-2000:]
    assert json.loads(out)["status"] == "FAILED"
    assert "the run ended FAILED: cannot start the run" in err
    assert RUN_EXIT_CODES == {"FINISHED": 0, "FAILED": 3, "STOPPED": 4}
    assert run_exit_code({"status": "STOPPED", "reason": "stopped by olga"}) == 4
    assert "the run ended STOPPED: stopped by olga" in capsys.readouterr().err
    assert run_exit_code({"status": "FINISHED"}) == 0
