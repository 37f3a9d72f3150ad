"""The CLI end to end: each wrong input exits non-zero naming the problem, nothing changes."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.storage.db import Database

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "configs" / "digits-mlp-fedavg.toml"


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    data = tmp_path / "deck"

    def run(*argv, user="admin", password="adminpass1", new_password=None, stdin=""):
        monkeypatch.setenv("FEDDECK_PASSWORD", password) if password else monkeypatch.delenv(
            "FEDDECK_PASSWORD", raising=False
        )
        if new_password:
            monkeypatch.setenv("FEDDECK_NEW_PASSWORD", new_password)
        else:
            monkeypatch.delenv("FEDDECK_NEW_PASSWORD", raising=False)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        args = ["--data-dir", str(data), *argv]
        if user and argv[0] != "db":
            args += ["--user", user]
        code = main(args)
        out, err = capsys.readouterr()
        return code, out, err

    code, _, err = run("user", "add", "admin", "--role", "admin", user=None)
    assert code == 0, err
    return run


def jrun(cli, *argv, **kw):
    code, out, err = cli(*argv, "--json", **kw)
    assert code == 0, err
    return json.loads(out)


def test_first_user_must_be_admin(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEDDECK_PASSWORD", "whatever123")
    code = main(["--data-dir", str(tmp_path / "d"), "user", "add", "bob", "--role", "viewer"])
    assert code == 1
    assert "first user must be an admin" in capsys.readouterr().err


def test_full_setup_from_the_shell(cli):
    jrun(cli, "user", "add", "vic", "--role", "viewer", new_password="viewerpass")
    assert {u["name"] for u in jrun(cli, "user", "list")} == {"admin", "vic"}
    jrun(cli, "group", "add", "lab")
    assert jrun(cli, "group", "add-member", "lab", "vic")["members"] == ["vic"]
    assert jrun(cli, "project", "create", "digits", "--group", "lab")["group"] == "lab"
    token = jrun(cli, "edge", "add", "e1", "--tag", "cpu")["token"]
    jrun(cli, "edge", "add", "e2")
    assert len(token) > 40
    assert jrun(cli, "config", "create", "--file", str(SAMPLE))["version"] == 1
    cfg = jrun(cli, "config", "show", "digits-mlp-fedavg")
    assert cfg["body"]["training"]["rounds"] == 20
    job = jrun(
        cli,
        "job",
        "create",
        "first",
        "--project",
        "digits",
        "--config",
        "digits-mlp-fedavg",
        "--edge",
        "e1",
        "--edge",
        "e2",
        "--tag",
        "demo",
    )
    assert job["status"] == "QUEUED"
    assert jrun(cli, "job", "show", str(job["id"]))["edges"] == ["e1", "e2"]
    assert [j["name"] for j in jrun(cli, "job", "list", "--tag", "demo")] == ["first"]
    code, out, _ = cli("edge", "list")
    assert code == 0 and "e1" in out and "DEVICE_ID" in out
    assert jrun(cli, "db", "upgrade")["revision"] == Database.head_revision() == "0009"
    # retention per project, said in words; a run's disk use; a queued job deleted
    assert (
        jrun(cli, "project", "retention", "digits", "3")["client_updates_kept"] == "last 3 rounds"
    )
    code, _, err = cli("project", "retention", "digits", "lots")
    assert code == 1 and "'lots': give all, none, or a number of rounds" in err
    code, out, _ = cli("project", "list")
    assert "CLIENT_UPDATES_KEPT" in out and "last 3 rounds" in out
    code, out, _ = cli("job", "list")
    assert "DISK_BYTES" in out and "0 B" in out
    assert jrun(cli, "job", "delete", str(job["id"]))["deleted"] == job["id"]
    code, _, err = cli("job", "show", str(job["id"]))
    assert code == 1 and f"no job with id {job['id']}" in err


def test_export_writes_toml(cli, tmp_path):
    jrun(cli, "config", "create", "--file", str(SAMPLE))
    out = tmp_path / "out.toml"
    assert jrun(cli, "config", "export", "digits-mlp-fedavg", "-o", str(out))["file"] == str(out)
    assert 'name = "digits-mlp-fedavg"' in out.read_text()
    code, _, err = cli("config", "export", "digits-mlp-fedavg", "-o", str(out))
    assert code == 1 and "--force" in err


def _bad_config(tmp_path, name, text):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("setup", "argv", "needle"),
    [
        ((), ("config", "create", "--file", "{unknown_model}"), "model.kind"),
        ((), ("config", "create", "--file", "{negative_lr}"), "training.lr"),
        ((), ("project", "attach-group", "digits", "other"), "exactly one group"),
        ((), ("edge", "add", "e1"), "exists already"),
        (
            ("viewer",),
            (
                "job",
                "create",
                "x",
                "--project",
                "digits",
                "--config",
                "digits-mlp-fedavg",
                "--edge",
                "e1",
                "--edge",
                "e2",
            ),
            "may not start jobs",
        ),
        ((), ("job", "show", "999"), "no job with id 999"),
    ],
)
def test_wrong_input_exits_nonzero_and_changes_nothing(cli, tmp_path, setup, argv, needle):
    jrun(cli, "group", "add", "lab")
    jrun(cli, "group", "add", "other")
    jrun(cli, "project", "create", "digits", "--group", "lab")
    jrun(cli, "edge", "add", "e1")
    jrun(cli, "edge", "add", "e2")
    jrun(cli, "config", "create", "--file", str(SAMPLE))
    jrun(cli, "user", "add", "vic", "--role", "viewer", new_password="viewerpass")
    files = {
        "{unknown_model}": _bad_config(tmp_path, "model", 'name = "m"\n[model]\nkind = "gpt"\n'),
        "{negative_lr}": _bad_config(tmp_path, "lr", 'name = "n"\n[training]\nlr = -1.0\n'),
    }
    before = {what: jrun(cli, what, "list") for what in ("project", "edge", "config", "job")}
    argv = [files.get(a, a) for a in argv]
    kw = {"user": "vic", "password": "viewerpass"} if "viewer" in setup else {}
    code, _, err = cli(*argv, **kw)
    assert code == 1
    assert needle in err and err.count("\n") == 1  # one line, naming the problem
    after = {what: jrun(cli, what, "list") for what in ("project", "edge", "config", "job")}
    assert after == before


def test_wrong_password_is_refused(cli):
    code, _, err = cli("edge", "list", password="not-the-one")
    assert code == 1 and "wrong user name or password" in err


def test_missing_acting_user(cli):
    code, _, err = cli("edge", "list", user=None)
    assert code == 1 and "--user" in err


def test_passwords_from_stdin(cli):
    code, _, err = cli("user", "add", "sam", password=None, stdin="adminpass1\nsampass123\n")
    assert code == 0, err
    code, _, _ = cli("edge", "list", user="sam", password=None, stdin="sampass123\n")
    assert code == 0


def test_json_error_document(cli):
    code, out, _ = cli("job", "show", "5", "--json")
    assert code == 1 and json.loads(out)["kind"] == "NotFound"


def test_bad_settings_named(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--data-dir", str(blocker), "db", "upgrade"]) == 1
    assert "not a directory" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path), "--hub-url", "ftp://x", "db", "upgrade"]) == 1
    assert "scheme must be one of" in capsys.readouterr().err


def test_console_script_runs_as_a_process(tmp_path):
    """The installed entry point, in a real process, with the environment as the only input."""
    env = {
        "FEDDECK_DATA_DIR": str(tmp_path / "p"),
        "FEDDECK_PASSWORD": "adminpass1",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "app", "user", "add", "root", "--role", "admin", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["role"] == "admin"
    usage = subprocess.run(
        [sys.executable, "-m", "app", "user", "frobnicate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_rename_and_tag_from_the_shell(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEDDECK_PASSWORD", "adminpass1")
    cli = ["--data-dir", str(tmp_path)]
    assert main([*cli, "user", "add", "admin", "--role", "admin"]) == 0
    monkeypatch.setenv("FEDDECK_USER", "admin")
    for args in (
        ["group", "add", "lab"],
        ["project", "create", "digits", "--group", "lab"],
        ["edge", "add", "pi"],
        ["edge", "rename", "pi", "pi-2"],
        ["edge", "tags", "pi-2", "--tag", "arm", "--tag", "lab"],
        ["group", "rename", "lab", "ml"],
        ["project", "rename", "digits", "mnist"],
    ):
        assert main([*cli, *args]) == 0, args
    capsys.readouterr()
    assert main([*cli, "edge", "list", "--json"]) == 0
    [edge] = json.loads(capsys.readouterr().out)
    assert edge["name"] == "pi-2" and edge["tags"] == ["arm", "lab"]
    assert main([*cli, "project", "list", "--json"]) == 0
    [project] = json.loads(capsys.readouterr().out)
    assert (project["name"], project["group"]) == ("mnist", "ml")
    assert main([*cli, "project", "rename", "mnist", "bad name"]) == 1


def test_round_progress_prints_each_round_once(capsys):
    from app.cli.output import round_progress
    from app.services.runs.events import LiveEvent

    def metric(rnd, **values):
        return LiveEvent("metric", 1, {"node": "aggregate", "round": rnd, "values": values})

    with_test = round_progress(2)
    for event in (
        metric(1, test_accuracy=0.5, hub_bytes_in=1.0),
        metric(1, fed_val_accuracy=0.4),  # the edges' figures for round 1, a round later
        metric(2, test_accuracy=0.75),
        metric(2, fed_val_accuracy=0.7),
        LiveEvent("metric", 1, {"node": "e1", "round": 2, "values": {"test_accuracy": 1.0}}),
    ):
        with_test(event)
    assert capsys.readouterr().err.splitlines() == [
        "round   1/2: test accuracy 0.5000",
        "round   2/2: test accuracy 0.7500",
    ]
    without_test = round_progress()  # a task with no test set: the edges' accuracy
    without_test(metric(1, hub_bytes_in=1.0))
    without_test(metric(1, fed_val_accuracy=0.625))
    assert capsys.readouterr().err.splitlines() == [
        "round   1: validation accuracy on the edges 0.6250"
    ]
