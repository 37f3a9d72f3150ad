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
