"""Cluster runs: `feddeck job start ID --mpi` in a shell runs the job on the ranks mpirun
starts (rank 0 the server, every other rank an edge agent), recorded by the control
center as a run on edge agents is. Real mpirun, real processes, the embedded hub."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil
import pytest

from app.cli import main
from app.config import Settings
from app.core.fl_config import FLConfig, config_from_toml
from app.core.run.cluster import ClusterPlan, rank_node
from app.core.run.cluster_data import read_data_map
from app.errors import InvalidInput
from app.services import Services
from app.services.runs.demo import DemoOptions, create_demo_job, demo_config, run_demo
from app.services.security.auth import SYSTEM
from tests.servers import Slurm
from tests.tasks.conftest import doc_block, write_doc_data, write_doc_task
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()

needs_mpi = pytest.mark.skipif(
    shutil.which("mpirun") is None, reason="mpirun is not installed (.ci/run installs openmpi-bin)"
)


def lab(tmp_path: Path, rounds: int = 20) -> tuple[Path, int]:
    """A data dir with an operator and a queued demo job that names no edge."""
    data = tmp_path / "deck"
    services = Services.open(Settings.load(data_dir=data))
    try:
        services.users.create_first_admin("root", "rootpass123")
        options = DemoOptions(edges=4, rounds=rounds, round_timeout_s=60)
        return data, create_demo_job(services, [], options)
    finally:
        services.close()


def job_start(data: Path, job_id: int, *flags: str) -> subprocess.Popen:
    env = {**os.environ, "FEDDECK_USER": "root", "FEDDECK_PASSWORD": "rootpass123"}
    command = [sys.executable, "-m", "app", "--data-dir", str(data), "job", "start"]
    return subprocess.Popen(
        [*command, str(job_id), *flags, "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ranks_of(data: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "cluster-rank" in cmdline and str(data) in cmdline:
            found.append(proc)
    return found


def rank_of(env: dict[str, str]) -> int | None:
    """A rank's place in the world by its engine's variables (srun's start at rank 1)."""
    if "OMPI_COMM_WORLD_RANK" in env:
        return int(env["OMPI_COMM_WORLD_RANK"])
    if "RANK" in env:
        return int(env["RANK"])
    if "SLURM_PROCID" in env:
        return int(env["SLURM_PROCID"]) + int(env.get("FEDDECK_RANK_OFFSET", "0"))
    return None


def rank_process(data: Path, rank: int) -> psutil.Process:
    for proc in ranks_of(data):
        try:
            if rank_of(proc.environ()) == rank:
                return proc
        except psutil.Error:
            continue
    raise AssertionError(f"no process of rank {rank}")


def read(data: Path, job_id: int):
    services = Services.open(Settings.load(data_dir=data))
    try:
        job = services.jobs.get(SYSTEM, job_id)
        metrics = services.run_data.metrics(SYSTEM, job_id)
        logs = services.run_data.logs(SYSTEM, job_id)
        counts = services.run_data.counts(job_id)
        samples = {e: services.edges.get(SYSTEM, e) for e in job.edges}
        return job, metrics, logs, counts, samples
    finally:
        services.close()


def current_round(data: Path, job_id: int) -> int:
    services = Services.open(Settings.load(data_dir=data))
    try:
        return services.jobs.get(SYSTEM, job_id).current_round
    finally:
        services.close()


def run_until_round_3_then(data: Path, job_id: int, flags, act, timeout: float = 300):
    """`job start` with `flags`; at round 3 `act()`, then the command's end: (code, stderr)."""
    proc = job_start(data, job_id, *flags)
    try:
        wait_until(lambda: current_round(data, job_id) >= 3, 120, "round 3")
        act()
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def kill_rank(data: Path, rank: int):
    return lambda: rank_process(data, rank).send_signal(signal.SIGKILL)


@pytest.fixture(scope="module")
def alike(tmp_path_factory):
    """The same job on four edge agent processes over MQTT: per-round accuracy, the log
    lines each node said, the counts of what was recorded."""
    agents = Settings.load(data_dir=tmp_path_factory.mktemp("agents"))
    done = run_demo(agents, DemoOptions(rounds=20, backend="mqtt"))
    assert done["status"] == "FINISHED"
    services = Services.open(agents)
    try:
        metrics = services.run_data.metrics(SYSTEM, done["job_id"])
        logs = services.run_data.logs(SYSTEM, done["job_id"])
    finally:
        services.close()
    accuracy = [m.value for m in metrics if m.node == "aggregate" and m.name == "test_accuracy"]
    return accuracy, Counter(line.node for line in logs), done["counts"]


@pytest.fixture(scope="module")
def slurm():
    """A one-node Slurm on this machine (tests/servers.py), for srun."""
    try:
        cluster = Slurm().start()
    except (FileNotFoundError, RuntimeError, AssertionError) as exc:
        pytest.skip(f"no one-node Slurm here: {exc}")
    yield cluster
    cluster.stop()


def engine_ready(engine: str, request, monkeypatch) -> None:
    """Skip, with the reason, an engine this machine lacks; point srun at the test Slurm."""
    if engine == "mpi" and shutil.which("mpirun") is None:
        pytest.skip("mpirun is not installed (.ci/run installs openmpi-bin)")
    if engine == "slurm":
        for name, value in request.getfixturevalue("slurm").env.items():
            monkeypatch.setenv(name, value)


FIVE_RANKS = {
    "mpi": ("--mpi", "--np", "5"),
    "torchrun": ("--torchrun", "--nproc-per-node", "5"),
    "slurm": ("--slurm", "--np", "5"),
}


@pytest.mark.parametrize("engine", FIVE_RANKS)
def test_a_job_on_five_ranks_matches_the_same_job_on_four_edge_agents(
    tmp_path, alike, engine, request, monkeypatch
):
    engine_ready(engine, request, monkeypatch)
    data, job_id = lab(tmp_path)
    proc = job_start(data, job_id, *FIVE_RANKS[engine])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert json.loads(out)["status"] == "FINISHED"
    job, metrics, logs, counts, edges = read(data, job_id)
    ranks = [rank_node(HOST, r) for r in range(1, 5)]
    assert job.edges == ranks and job.current_round == 20
    accuracy = [m.value for m in metrics if m.node == "aggregate" and m.name == "test_accuracy"]
    reference, alike_said, alike_counts = alike
    assert accuracy == pytest.approx(reference, abs=1e-6)  # the same figure every round

    # every rank recorded as an edge agent is: its figures, its log lines, its models
    assert {m.node for m in metrics} == {"aggregate", *ranks}
    assert {line.node for line in logs} >= {"server", *ranks}
    assert any("4 of 4 edges joined" in line.text for line in logs)
    kept = ("metric_rounds", "aggregate_artifacts", "client_artifacts")
    assert {k: counts[k] for k in kept} == {k: alike_counts[k] for k in kept}
    # each rank said what an agent says (ranks 1-4 as demo-edge-1..4), and the end
    said = Counter(line.node for line in logs)
    assert said.pop("center") == 1
    assert said == {node.replace("demo-edge-", f"{HOST}-r"): n for node, n in alike_said.items()}
    assert {n: (e.tags, e.status) for n, e in edges.items()} == {
        n: (["cluster"], "OFFLINE") for n in ranks
    }
    assert all(e.last_seen is not None for e in edges.values())  # their samples crossed
    assert ranks_of(data) == []
    if engine == "slurm":  # the job step ended with the run
        queue = subprocess.run(["squeue", "-h"], capture_output=True, text=True, check=True)
        assert queue.stdout.strip() == ""


@needs_mpi
def test_runs_without_a_server_and_fedgkt_run_on_ranks_too(tmp_path, alike):
    """The other protocols on five mpirun ranks: push-sum over a complete graph (a ring
    plus every other link) is exact averaging, so each round equals FedAvg's on four edge
    agents; FedGKT's server runs on rank 0, its edge CNNs on ranks 1-4."""
    data = tmp_path / "deck"
    services = Services.open(Settings.load(data_dir=data))
    try:
        services.users.create_first_admin("root", "rootpass123")
        services.groups.add(SYSTEM, "lab")
        services.projects.create(SYSTEM, "p", "lab")
        base = demo_config(DemoOptions(edges=4, rounds=20)).model_dump(mode="json")
        jobs = {}
        for name, sections in {
            "pushsum": {"algorithm": {"name": "pushsum"},
                        "decentralized": {"graph": "ring", "random_links": 8}},
            "fedgkt": {"algorithm": {"name": "fedgkt"}},
        }.items():  # fmt: skip
            saved = services.configs.save(SYSTEM, FLConfig.model_validate(
                {**base, **sections, "name": name}))  # fmt: skip
            jobs[name] = services.jobs.create(SYSTEM, name, "p", saved.name, []).id
    finally:
        services.close()
    for name, job_id in jobs.items():
        proc = job_start(data, job_id, *FIVE_RANKS["mpi"])
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert json.loads(out)["status"] == "FINISHED", name
    ranks = [rank_node(HOST, r) for r in range(1, 5)]
    job, metrics, *_ = read(data, jobs["pushsum"])
    accuracy = [m.value for m in metrics if m.node == "aggregate" and m.name == "test_accuracy"]
    assert job.edges == ranks
    assert accuracy == pytest.approx(alike[0], abs=1e-4)  # round by round
    job, metrics, *_ = read(data, jobs["fedgkt"])
    figures = {m.name for m in metrics if m.node == "aggregate"}
    assert {"test_accuracy", "edge_accuracy", "bytes_per_round"} <= figures
    assert {m.node for m in metrics if m.name == "test_accuracy"} == {"aggregate", *ranks}
    assert ranks_of(data) == []


@pytest.mark.parametrize("engine", ["mpi", "slurm"])
def test_a_killed_rank_is_named_and_the_run_finishes_without_it(
    tmp_path, engine, request, monkeypatch
):
    engine_ready(engine, request, monkeypatch)
    data, job_id = lab(tmp_path, rounds=60)
    code, err = run_until_round_3_then(
        data,
        job_id,
        (
            f"--{engine}",
            "--np",
            "4",
        ),
        kill_rank(data, 2),
    )
    assert code == 0, err[-3000:]
    job, metrics, logs, _, _ = read(data, job_id)
    assert (job.status, job.current_round) == ("FINISHED", 60)
    lost = rank_node(HOST, 2)
    assert f"{lost} went offline" in err  # said as it happened
    assert any(f"{lost} went offline" in line.text for line in logs)
    last = max(m.round for m in metrics if m.node == lost)
    assert last < 60 and {m.node for m in metrics if m.round == 60} == {
        "aggregate",
        rank_node(HOST, 1),
        rank_node(HOST, 3),
    }
    wait_until(lambda: ranks_of(data) == [], 30, "every rank gone")


def test_under_torchrun_a_killed_rank_fails_the_run_naming_it(tmp_path):
    """torchrun ends every rank when one fails: the run fails, its rounds kept, the log
    names the rank that failed first, and nothing is left."""
    data, job_id = lab(tmp_path, rounds=400)
    code, err = run_until_round_3_then(
        data,
        job_id,
        (
            "--torchrun",
            "--nproc-per-node",
            "4",
        ),
        kill_rank(data, 2),
    )
    assert code == 3, err[-3000:]  # FAILED
    job, metrics, logs, _, _ = read(data, job_id)
    assert job.status == "FAILED" and "torchrun ended every rank" in job.status_reason
    assert job.current_round >= 3 and max(m.round for m in metrics) >= 3  # kept
    said = [line.text for line in logs if line.node == "center" and line.level == "ERROR"]
    assert f"rank 2 ({rank_node(HOST, 2)}) failed first, exit code -9 (SIGKILL)" in said[0]
    wait_until(lambda: ranks_of(data) == [], 30, "every rank gone")


def test_stop_from_another_shell_ends_every_rank(tmp_path):
    """`job stop` in a second shell: its word crosses the bridge to rank 0, the run stops
    (exit 4, STOPPED), and no rank is left."""
    data, job_id = lab(tmp_path, rounds=400)

    def stop() -> None:
        env = {**os.environ, "FEDDECK_USER": "root", "FEDDECK_PASSWORD": "rootpass123"}
        done = subprocess.run(
            [sys.executable, "-m", "app", "--data-dir", str(data), "job", "stop", str(job_id)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    flags = ("--torchrun", "--nproc-per-node", "3")
    code, err = run_until_round_3_then(data, job_id, flags, stop, timeout=120)
    assert code == 4, err[-3000:]  # STOPPED
    job, *_ = read(data, job_id)
    assert job.status == "STOPPED" and 3 <= job.current_round < 400
    wait_until(lambda: ranks_of(data) == [], 30, "every rank gone")


@needs_mpi
def test_a_killed_rank_0_fails_the_run_with_the_reason_and_ends_every_rank(tmp_path):
    data, job_id = lab(tmp_path, rounds=400)
    code, err = run_until_round_3_then(
        data,
        job_id,
        (
            "--mpi",
            "--np",
            "3",
        ),
        kill_rank(data, 0),
    )
    assert code == 3, err[-3000:]  # FAILED
    job, *_ = read(data, job_id)
    assert job.status == "FAILED" and job.current_round >= 3
    assert "rank 0, the run's server, ended without a result" in job.status_reason
    assert "rank 0 has been silent" in job.status_reason
    wait_until(lambda: ranks_of(data) == [], 30, "every rank gone")


def test_a_slurm_run_whose_srun_fails_ends_at_once_with_srun_s_reason(
    tmp_path, request, monkeypatch
):
    """A partition Slurm does not know: srun fails before ranks 1..N start, and rank 0
    stops waiting for them at once (not at the rendezvous' timeout), saying why."""
    engine_ready("slurm", request, monkeypatch)
    data, job_id = lab(tmp_path, rounds=3)
    run = job_start(data, job_id, "--slurm", "--np", "3", "--partition", "no-such-partition")
    _, err = run.communicate(timeout=120)
    assert run.returncode == 3, err[-3000:]  # FAILED
    job, *_ = read(data, job_id)
    assert job.status == "FAILED" and "(exit code 3)" in job.status_reason
    assert "srun exited with code 1 before ranks 1..N met rank 0" in job.status_reason
    assert "Invalid partition name specified" in job.status_reason
    wait_until(lambda: ranks_of(data) == [], 30, "every rank gone")


def test_cluster_runs_refuse_what_cannot_start(tmp_path, monkeypatch):
    path = os.environ.get("PATH", "")
    if shutil.which("mpirun") is not None:
        with pytest.raises(InvalidInput, match="at least 2 ranks"):
            ClusterPlan("mpi", 1).check()
        unknown = tmp_path / "unknown"
        unknown.write_text("localhost slots=1\nno-such-host.invalid slots=4\n")
        with pytest.raises(InvalidInput, match=r"line 2: unknown host 'no-such-host\.invalid'"):
            ClusterPlan("mpi", 3, unknown).check()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.write_text("# rank 0 first\n8.8.8.8 slots=2\nlocalhost\n")
        with pytest.raises(InvalidInput, match=r"first host '8\.8\.8\.8' gets rank 0"):
            ClusterPlan("mpi", 3, elsewhere).check()
        garbled = tmp_path / "garbled"
        garbled.write_text("localhost slots=two\n")
        with pytest.raises(InvalidInput, match="is not 'HOST \\[slots=N\\]'"):
            ClusterPlan("mpi", 3, garbled).check()
    with pytest.raises(InvalidInput, match=r"--nodes 3: ranks 1\.\.2 go on 1 to 2 nodes"):
        ClusterPlan("slurm", 3, nodes=3).check()
    broken = tmp_path / "broken.toml"
    broken.write_text("[node1\n")
    with pytest.raises(InvalidInput, match=r"data map .*broken\.toml: not TOML"):
        read_data_map(broken)
    broken.write_text('node1 = "/data"\n')
    with pytest.raises(InvalidInput, match=r"\[node1\] must be a table of KEY = \"PATH\""):
        read_data_map(broken)
    monkeypatch.setenv("PATH", str(tmp_path))  # no mpirun, no srun on it
    with pytest.raises(
        InvalidInput, match=r"mpirun is not installed .*apt-get install openmpi-bin"
    ):
        ClusterPlan("mpi", 3).check()
    with pytest.raises(InvalidInput, match=r"srun is not installed .*apt-get install slurm-wlm"):
        ClusterPlan("slurm", 3).check()

    data, job_id = lab(tmp_path)
    monkeypatch.setenv("PATH", path)
    proc = job_start(data, job_id)  # a job for ranks, started for edges
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and f"job {job_id} has no edges" in err and "--mpi" in err
    for flags, said in (
        (("--np", "4"), "--np goes with --mpi or --slurm"),
        (("--torchrun", "--hostfile", "h"), "--hostfile goes with --mpi"),
        (("--mpi", "--torchrun"), "choose one of --mpi / --torchrun"),
        (("--torchrun", "--nnodes", "2", "--nproc-per-node", "0"), "needs at least 2 ranks"),
        (("--torchrun", "--nproc-per-node", "1"), "needs at least 2 ranks"),
    ):
        proc = job_start(data, job_id, *flags)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1 and said in err, (flags, err)
    job, *_ = read(data, job_id)
    assert job.status == "QUEUED"  # nothing started, nothing lost


@needs_mpi
def test_the_operators_own_task_runs_on_ranks_each_on_the_data_the_map_gives_it(tmp_path):
    """The task of docs/tasks.md, stored signed, on three MPI ranks, each reading the site
    folder a data map names for it (by rank; a host's table would serve all its ranks)."""
    data, _ = lab(tmp_path)
    folder = write_doc_task(tmp_path / "outside" / "cancer-mlp")
    sites = write_doc_data(tmp_path / "outside" / "cancer")
    services = Services.open(Settings.load(data_dir=data))
    try:
        services.tasks.add(SYSTEM, folder)
        config = services.configs.save(
            SYSTEM, config_from_toml(doc_block("toml", 'name = "cancer-fedavg"'))
        )
        job = services.jobs.create(SYSTEM, "cancer-ranks", "demo", config.name, [])
    finally:
        services.close()
    data_map = tmp_path / "data-map.toml"
    data_map.write_text(
        "".join(f'["{rank_node(HOST, i)}"]\ncancer = "{site}"\n' for i, site in enumerate(sites, 1))
    )
    proc = job_start(data, job.id, "--mpi", "--np", "4", "--data-map", str(data_map))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    done, metrics, *_ = read(data, job.id)
    assert done.status == "FINISHED" and (done.task_name, done.task_version) == ("cancer-mlp", 1)
    final = {m.name: m.value for m in metrics if m.node == "aggregate"}
    assert final["fed_val_samples"] == sum(
        len((s / "validation.csv").read_text().splitlines()) - 1 for s in sites
    )
    assert final["fed_val_accuracy"] > 0.85, final

    # a map with no table for this host is refused before anything starts
    other = tmp_path / "other.toml"
    other.write_text('[elsewhere]\ncancer = "/data"\n')
    services = Services.open(Settings.load(data_dir=data))
    try:
        again = services.jobs.create(SYSTEM, "again", "demo", config.name, [])
    finally:
        services.close()
    proc = job_start(data, again.id, "--mpi", "--data-map", str(other))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and f"the data map has no table for host '{HOST}'" in err


def test_a_job_keeps_its_cluster_and_a_flow_runs_its_steps_on_ranks(tmp_path, capsys):
    """`job create --torchrun` keeps the ranks on the job (a plain `job start` runs there);
    a flow's steps name a cluster as they name edges, one run's model the next one's
    start."""
    data, _ = lab(tmp_path, rounds=2)
    cli = ["--data-dir", str(data)]
    env = {"FEDDECK_USER": "root", "FEDDECK_PASSWORD": "rootpass123"}
    for name, value in env.items():
        os.environ[name] = value
    try:
        create = ["job", "create", "kept", "--project", "demo", "--config", "demo-digits-fedavg"]
        assert main([*cli, *create, "--torchrun", "--nproc-per-node", "3", "--json"]) == 0
        kept = json.loads(capsys.readouterr().out)
        assert kept["cluster"] == {"engine": "torchrun", "ranks": 3}
        proc = job_start(data, kept["id"])  # no engine flag: the job's own
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "started on 3 ranks (torchrun)" in err, err[-3000:]
        flow = tmp_path / "flow.toml"
        flow.write_text(
            'name = "ranks"\n'
            "[[steps]]\n"
            'name = "train"\n'
            'job = { project = "demo", config = "demo-digits-fedavg", '
            'cluster = { engine = "torchrun", ranks = 3 } }\n'
            "[[steps]]\n"
            'name = "again"\n'
            'depends_on = ["train"]\n'
            'job = { project = "demo", config = "demo-digits-fedavg", init_from = "train", '
            'cluster = { engine = "torchrun", ranks = 4 } }\n'
        )
        assert main([*cli, "flow", "create", "--file", str(flow)]) == 0
        capsys.readouterr()
        assert main([*cli, "flow", "run", "ranks", "--json"]) == 0
        run = json.loads(capsys.readouterr().out)
    finally:
        for name in env:
            os.environ.pop(name, None)
    assert run["status"] == "FINISHED", run
    steps = {s["step"]: s for s in run["steps"]}
    train, again = (read(data, steps[n]["job_id"])[0] for n in ("train", "again"))
    assert train.status == again.status == "FINISHED"
    assert train.edges == [rank_node(HOST, r) for r in (1, 2)]
    assert again.edges == [rank_node(HOST, r) for r in (1, 2, 3)]
    assert again.init_model["job_id"] == train.id and again.cluster["ranks"] == 4
    assert read(data, kept["id"])[0].status == "FINISHED"


def test_torchrun_over_two_machines_the_second_started_with_the_line_printed(tmp_path):
    """`--nnodes 2`: this machine's torchrun runs ranks 0-1, and `job start` prints the line
    that starts ranks 2-3 on the second machine (here, this machine again)."""
    data, job_id = lab(tmp_path)
    proc = job_start(data, job_id, "--torchrun", "--nnodes", "2", "--nproc-per-node", "2")
    said = []
    for raw in proc.stderr:
        said.append(raw)
        if raw.startswith("  ") and "--node-rank 1" in raw:
            break
    else:
        proc.wait(60)
        raise AssertionError("".join(said)[-3000:])
    other_log = (tmp_path / "machine-1.log").open("w")
    other = subprocess.Popen(
        shlex.split(said[-1]), cwd=ROOT, stdout=other_log, stderr=subprocess.STDOUT
    )
    try:
        _, err = proc.communicate(timeout=300)
        other.wait(60)
    finally:
        for p in (proc, other):
            if p.poll() is None:
                p.kill()
    other_log.close()
    assert proc.returncode == 0, err[-3000:]
    assert other.returncode == 0, (tmp_path / "machine-1.log").read_text()[-3000:]
    job, metrics, logs, _, _ = read(data, job_id)
    assert job.status == "FINISHED"
    assert job.cluster == {"engine": "torchrun", "ranks": 4, "nnodes": 2}
    assert job.edges == [rank_node(HOST, r) for r in (1, 2, 3)]
    assert {m.node for m in metrics if m.round == 20} == {"aggregate", *job.edges}
    assert any("start machine 1 of 2's ranks there with" in line.text for line in logs)
    assert ranks_of(data) == []
