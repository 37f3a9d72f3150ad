"""The launch dialog runs a job on a cluster's ranks: torchrun's on this machine, over the
control center's own embedded gRPC hub, recorded as a run on edges is."""

import socket

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.config import Settings
from app.core.run.cluster import rank_node
from app.services import Services
from app.services.runs.demo import DemoOptions, demo_config
from app.services.security.auth import SYSTEM
from app.ui.dialogs.launch import RUN_ON, LaunchDialog
from app.ui.run_views.topology import hosts_of


@pytest.fixture
def deck(tmp_path):
    """A control center whose hub other processes reach (a cluster's ranks do)."""
    settings = Settings.load(data_dir=tmp_path / "ui", hub_url="embedded://grpc")
    services = Services.open(settings)
    services.users.create_first_admin("admin", "adminpass1")
    services.groups.add(SYSTEM, "lab")
    services.projects.create(SYSTEM, "digits", "lab")
    services.configs.save(SYSTEM, demo_config(DemoOptions(edges=2, rounds=3)))
    yield settings, services
    services.close()


def open_dialog(qtbot, ctx, engine: str) -> LaunchDialog:
    dialog = LaunchDialog(ctx)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.buttons.isEnabled, timeout=5000)
    dialog.run_on.setCurrentIndex([e for _, e in RUN_ON].index(engine))
    return dialog


def start(qtbot, dialog: LaunchDialog) -> None:
    qtbot.mouseClick(
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton
    )


def test_the_launch_dialog_runs_a_job_on_torchrun_ranks(qtbot, admin_ctx):
    dialog = open_dialog(qtbot, admin_ctx, "torchrun")
    assert not dialog.edges.isEnabled() and dialog.ranks.isEnabled()
    assert not dialog.place.isEnabled()  # torchrun takes no hostfile or partition
    dialog.ranks.setValue(3)
    with qtbot.waitSignal(dialog.launched, timeout=30000) as launched:
        start(qtbot, dialog)
    job_id = launched.args[0]
    services = admin_ctx.services
    qtbot.waitUntil(
        lambda: services.jobs.get(SYSTEM, job_id).status in ("FINISHED", "FAILED"),
        timeout=120000,
    )
    job = services.jobs.get(SYSTEM, job_id)
    assert job.status == "FINISHED", job.status_reason
    host = socket.gethostname()
    assert job.edges == [rank_node(host, 1), rank_node(host, 2)] and job.current_round == 3
    nodes = {m.node for m in services.run_data.metrics(SYSTEM, job_id)}
    assert nodes == {"aggregate", rank_node(host, 1), rank_node(host, 2)}


def test_a_cluster_the_machine_cannot_run_is_refused_and_no_job_is_made(
    qtbot, admin_ctx, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun here
    dialog = open_dialog(qtbot, admin_ctx, "slurm")
    assert dialog.place_label.text() == "&Partition" and dialog.place.isEnabled()
    start(qtbot, dialog)
    qtbot.waitUntil(lambda: "srun is not installed" in dialog.error.text(), timeout=10000)
    assert dialog.buttons.isEnabled()  # the operator may choose again
    assert admin_ctx.services.jobs.list(SYSTEM) == []


def test_the_topology_groups_a_cluster_runs_ranks_by_host():
    assert hosts_of(["n2-r3", "n1-r1", "n1-r2", "n10-r10"]) == {
        "n1": ["n1-r1", "n1-r2"],
        "n2": ["n2-r3"],
        "n10": ["n10-r10"],
    }
    assert hosts_of(["pi-1", "n1-r1"]) is None  # edge agents: the ring as before
    assert hosts_of([]) is None


def test_a_clone_of_a_cluster_run_offers_the_same_ranks(qtbot, admin_ctx):
    services = admin_ctx.services
    cluster = {"engine": "slurm", "ranks": 6, "partition": "lab"}
    job = services.jobs.create(
        SYSTEM, "nightly", "digits", "demo-digits-fedavg", [], cluster=cluster
    )
    dialog = LaunchDialog(admin_ctx, job)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.buttons.isEnabled, timeout=5000)
    assert dialog.cluster_choice() == {
        "engine": "slurm",
        "ranks": 6,
        "hostfile": None,
        "partition": "lab",
        "data_map": None,
    }
    assert not dialog.edges.isEnabled()
