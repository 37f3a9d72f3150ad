"""The wheel as a user installs it, in a fresh venv with nothing of the checkout on the path.

First the edge install (no extras): it has no Qt, no SQLAlchemy, no broker, and its
`feddeck edge` trains a real run of a control center; a control-center command says which
extra it needs. Then the same venv with `[gui]`: `feddeck demo --headless` runs from there,
which needs the shipped configs and tasks inside the wheel."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.backends.embedded import start_embedded_hub
from app.config import Settings
from app.core.fl_config import config_from_toml
from app.services import Services
from app.services.security.auth import SYSTEM
from app.services.security.hub_access import HubAccess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
CENTER_ONLY = ("PySide6", "pyqtgraph", "sqlalchemy", "alembic", "amqtt", "argon2", "apscheduler")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FEDDECK_"))}
    env.pop("VIRTUAL_ENV", None)
    return {**env, **extra}


def _pip(cmd: list[str]) -> None:
    done = subprocess.run([*cmd, "-q"], capture_output=True, text=True, env=_clean_env())
    assert done.returncode == 0, f"{' '.join(cmd)}: {done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources, installed without extras into a new venv."""
    work = tmp_path_factory.mktemp("install")
    src = work / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", "docs", "tests", "bench"
        ),
    )
    wheels = work / "wheels"
    _pip([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(src)])
    env_dir = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    (wheel,) = wheels.glob("feddeck-*.whl")
    _pip([str(env_dir / "bin" / "python"), "-m", "pip", "install", str(wheel)])
    env_dir.joinpath("wheel").write_text(str(wheel))
    return env_dir


def _feddeck(venv: Path, *args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "feddeck"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=venv,
        env=_clean_env(),
        **kw,
    )


def _importable(venv: Path, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=venv).returncode == 0


def test_the_edge_install_has_no_control_center_and_trains_a_run(venv, tmp_path):
    for module in CENTER_ONLY:
        assert not _importable(venv, module), f"{module} came with the edge install"
    assert _importable(venv, "torch") and _importable(venv, "grpc")

    refused = _feddeck(venv, "--data-dir", str(tmp_path / "x"), "job", "list", "--user", "a")
    assert refused.returncode == 1
    assert "pip install 'feddeck[center]'" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr

    # A control center of the checkout, its hub in this process; the edge from the venv.
    data = tmp_path / "deck"
    settings = Settings.load(data_dir=data)
    services = Services.open(settings)
    services.users.create_first_admin("root", "rootpass123")
    services.groups.add(SYSTEM, "lab", "")
    services.projects.create(SYSTEM, "lab", "lab", "")
    cfg = config_from_toml((ROOT / "resources" / "configs" / "digits-mlp-fedavg.toml").read_text())
    training = cfg.training.model_copy(update={"rounds": 2, "min_clients": 1})
    services.configs.save(SYSTEM, cfg.model_copy(update={"name": "lean", "training": training}))
    edge = services.edges.register(SYSTEM, "pi-1", tags=["lean"])
    hub = start_embedded_hub(
        "grpc", "127.0.0.1", 0, access=HubAccess.for_settings(services.db, settings)
    )
    agent_args = ["--data-dir", str(tmp_path / "edge"), "edge", "--hub", hub.url]
    agent = subprocess.Popen(
        [str(venv / "bin" / "feddeck"), *agent_args, "--token", edge.token, "--name", "pi-1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=venv,
        env=_clean_env(),
    )
    try:
        env = {**os.environ, "FEDDECK_USER": "root", "FEDDECK_PASSWORD": "rootpass123"}
        base = [sys.executable, "-m", "app", "--data-dir", str(data), "--hub-url", hub.url]
        job_id = services.jobs.create(SYSTEM, "lean", "lab", "lean", ["pi-1"]).id
        started = subprocess.run(
            [*base, "job", "start", str(job_id), "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=240,
        )
        assert started.returncode == 0, started.stderr[-2000:]
        run = json.loads(started.stdout)
        if run["status"] != "FINISHED":
            agent.terminate()
            pytest.fail(f"{run['status']}: {run.get('reason')}; edge:\n{agent.communicate()[0]}")
        assert services.run_data.latest_accuracy(SYSTEM)[job_id] > 0.5
    finally:
        agent.send_signal(signal.SIGTERM)
        out, _ = agent.communicate(timeout=30)
        hub.stop()
        services.close()
    assert agent.returncode == 0, out[-2000:]
    assert "edge pi-1" in out and "connected to" in out


def test_the_window_install_runs_the_demo_from_the_wheel(venv, tmp_path):
    wheel = venv.joinpath("wheel").read_text()
    _pip([str(venv / "bin" / "python"), "-m", "pip", "install", f"{wheel}[gui]"])
    for module in CENTER_ONLY:
        assert _importable(venv, module), f"{module} missing from feddeck[gui]"
    started = time.monotonic()
    demo = _feddeck(venv, "--data-dir", str(tmp_path / "demo"), "demo", "--headless", timeout=400)
    assert demo.returncode == 0, (demo.stdout + demo.stderr)[-3000:]
    assert "FINISHED" in demo.stdout + demo.stderr
    assert time.monotonic() - started < 400
    shipped = venv / "lib"
    assert list(shipped.glob("python3*/site-packages/app/resources/tasks/digits/task.toml"))
