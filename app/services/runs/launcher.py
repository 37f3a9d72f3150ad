"""Launching and stopping runs: one FL server per run, as a process (or a thread in-process).

The server announces its progress on the hub, where ingest records it. The launcher also
watches the server: if it dies without saying how the run ended, the job is marked FAILED
with the reason, so no job stays RUNNING forever.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.config import Settings
from app.core.protocols import protocol_for
from app.core.run.cluster import ClusterPlan
from app.core.run.cluster_data import encode as encode_data_map
from app.core.run.directory import RunDir
from app.core.run.protocol import STOP, RunAddress
from app.errors import InvalidInput
from app.services.entities.job_status import TERMINAL
from app.services.registry import Services
from app.services.runs.child_processes import spawn_feddeck, stop_processes
from app.services.runs.events import EventBus, LiveEvent
from app.services.runs.serving import serve_run
from app.services.runs.standby import StandbyServers
from app.services.runs.tracking import export_ended_run
from app.services.security.auth import SYSTEM, Actor, require
from app.storage.models import JobStatus, Role
from app.wire.hub import Hub, HubState
from app.wire.messages import Message, MessageType
from app.wire.transports import free_port

log = logging.getLogger(__name__)


MAX_SERVER_RESTARTS = 2  # a server that keeps crashing is a bug, not bad luck


class JobLauncher:
    def __init__(
        self,
        services: Services,
        settings: Settings,
        hub: Hub,
        hub_url: str,
        in_process: bool = False,
        events: EventBus | None = None,
        standby: bool = False,
    ) -> None:
        """`standby`: keep a spare server process warm, so a run starts in about a second
        (for a control center that lives on between runs)."""
        self.services, self.settings = services, settings
        self.events = events
        self.hub, self.hub_url = hub, hub_url
        self.in_process = in_process
        self.standby = StandbyServers(settings, hub_url) if standby and not in_process else None
        if self.standby is not None:
            self.standby.refill()
        self._procs: dict[int, subprocess.Popen] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._restarts: dict[int, int] = {}
        self._clusters: dict[int, ClusterPlan] = {}
        self.node_lines: dict[int, list[str]] = {}  # other machines' lines, by run
        self._stopping: set[int] = set()
        # Outages of this center's hub connection, counted, and the count each run started
        # with: a run that lived through one may have reported rounds nobody heard.
        self._outages = 0
        self._outages_at_start: dict[int, int] = {}
        if hub is not None:  # None: a launcher that only settles (tests)
            hub.on_state(self._on_hub_state)
        self.on_exit: Callable[[int], None] | None = None

    def _on_hub_state(self, state: HubState) -> None:
        if state in (HubState.RECONNECTING, HubState.DISCONNECTED):
            self._outages += 1

    def start(self, actor: Actor, job_id: int, cluster: ClusterPlan | None = None) -> None:
        """Start a QUEUED job: on its edges, or on the ranks `cluster` (else the job's own
        cluster plan) starts."""
        require(actor, Role.OPERATOR, "start jobs")
        job = self.services.jobs.get(actor, job_id)
        if job.status != JobStatus.QUEUED.value:
            raise InvalidInput(f"job {job_id} is {job.status}; only a QUEUED job can start")
        if cluster is None and job.cluster is not None:
            cluster = ClusterPlan.from_dict(job.cluster, f"job {job_id}'s cluster")
        if cluster is None and not job.edges:
            raise InvalidInput(
                f"job {job_id} has no edges: run it on a cluster's ranks (job start "
                f"{job_id} --mpi, --torchrun or --slurm), or create a job with --edge"
            )
        protocol = protocol_for(job.config_snapshot)
        if cluster is not None:
            if self.in_process:
                raise InvalidInput("a cluster run needs a hub other processes reach")
            cluster.check()
            if job.cluster != cluster.as_dict():  # the job keeps what it ran on
                self.services.jobs.set_cluster(actor, job_id, cluster.as_dict())
            self._clusters[job_id] = cluster
        self.services.jobs.transition(actor, job_id, "STARTING", f"started by {actor.name}")
        self._outages_at_start[job_id] = self._outages
        if self.in_process or (protocol.in_center and cluster is None):  # no server to spawn
            thread = threading.Thread(
                target=self._serve_in_thread,
                args=(job_id,),
                daemon=True,
                name=f"fl-server-{job_id}",
            )
            self._threads[job_id] = thread
            thread.start()
            return
        self._spawn(job_id, resume=False)

    def _spawn(self, job_id: int, resume: bool) -> None:
        run_dir = self._run_dir(job_id)
        log_file = run_dir.server_log
        cluster = self._clusters.get(job_id)
        if cluster is not None:  # every rank of the run, its rank 0 the server
            args = ["--db-url", self.settings.db_url, "cluster-rank", "--job", str(job_id)]
            args += ["--hub", self.hub_url, "--ranks", cluster.hub_url]
            args += ["--resume"] if resume else []
            if cluster.data_map is not None:
                args += ["--data-map", encode_data_map(cluster.data_map)]
            # the operator chose these ranks for this center's run: they run its signed
            # tasks as an edge that opted in does
            args += ["--trust-center", self.services.tasks.center_fingerprint()]
            port = free_port("")  # torchrun over several machines listens on all
            proc = spawn_feddeck(
                self.settings,
                args,
                log_file,
                engine=cluster.command(port),
                secrets=cluster.environment(),
            )
            self._tell_other_nodes(job_id, cluster, port, args)
        elif self.standby is not None:
            proc = self.standby.hand(job_id, resume, log_file)
        else:
            args = ["--db-url", self.settings.db_url, "server", "--job", str(job_id)]
            args += ["--hub", self.hub_url, *(["--resume"] if resume else [])]
            proc = spawn_feddeck(self.settings, args, log_file)
        run_dir.pid_file.write_text(str(proc.pid))
        self._procs[job_id] = proc
        threading.Thread(
            target=self._watch,
            args=(job_id, proc, log_file),
            daemon=True,
            name=f"fl-server-watch-{job_id}",
        ).start()

    def _serve_in_thread(self, job_id: int) -> None:
        try:
            serve_run(
                self.services,
                self.settings,
                job_id,
                self.hub_url,
                connect_timeout=10,
            )
            self._settle(job_id, "")
        except Exception as exc:
            log.exception("in-process server for job %s failed", job_id)
            self._settle(job_id, f"server failed: {exc}")
        finally:
            if self.on_exit:
                self.on_exit(job_id)

    def _run_dir(self, job_id: int) -> RunDir:
        return RunDir(self.settings.artifacts_dir, job_id)

    def _tell_other_nodes(self, job_id: int, cluster: ClusterPlan, port: int, args) -> None:
        """A run over machines whose engine this one cannot start there (torchrun): the
        line for each, kept for `job start` to print and said in the run's log."""
        rank = [sys.executable, "-m", "app", "--data-dir", str(self.settings.data_dir), *args]
        lines = [shlex.join([*engine, *rank]) for engine in cluster.node_commands(port)]
        self.node_lines[job_id] = lines
        for node, line in enumerate(lines, 1):
            text = f"start machine {node} of {cluster.nnodes}'s ranks there with: {line}"
            self.services.run_data.note(job_id, "center", "WARNING", text)

    def _watch(self, job_id: int, proc: subprocess.Popen, log_file: Path) -> None:
        code = proc.wait()
        cluster = self._clusters.get(job_id)
        if code != 0 and cluster is None and self._should_restart(job_id):
            self._restart(job_id, code)
            return
        try:
            lines = log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        if cluster is not None:
            reason = cluster.crash_reason(code, lines)
            failure = cluster.first_failure(lines)
            if failure:
                self.services.run_data.note(job_id, "center", "ERROR", failure)
        else:
            reason = f"server exited with code {code}: {(lines or ['no output'])[-1][:300]}"
        self._settle(job_id, reason)
        if self.on_exit:
            self.on_exit(job_id)
        if self.standby is not None:  # now, not at the start: never beside a starting run
            self.standby.refill()

    def _should_restart(self, job_id: int) -> bool:
        """A server that died without a result, on a run nobody is stopping."""
        if job_id in self._stopping or self._run_dir(job_id).outcome_file.exists():
            return False
        if self._restarts.get(job_id, 0) >= MAX_SERVER_RESTARTS:
            return False
        # A server that could not write its outcome (a full disk) still said how the run
        # ended over the hub: give ingest a moment to record it before calling it a crash.
        time.sleep(1.0)
        return JobStatus(self.services.jobs.get(SYSTEM, job_id).status) not in TERMINAL

    def _restart(self, job_id: int, code: int) -> None:
        """Relaunch the run's server from its last aggregated round. The rows of the round
        it was in are dropped first, so that round is not counted twice."""
        self._restarts[job_id] = self._restarts.get(job_id, 0) + 1
        done = self.resume_point(job_id)
        self.services.run_data.discard_after(job_id, done)
        text = (
            f"server exited with code {code}; restart {self._restarts[job_id]} of "
            f"{MAX_SERVER_RESTARTS}, resuming after round {done}"
        )
        log.warning("run %s: %s", job_id, text)
        self.services.run_data.note(job_id, "center", "WARNING", text)
        self._spawn(job_id, resume=True)

    def resume_point(self, job_id: int) -> int:
        """The last round wholly on record: its aggregate stored and the server's word that
        the round was done (its status comes after the round's figures). A server killed
        between storing an aggregate and reporting its figures left that round half on
        record: it is run again rather than kept without its figures."""
        last = self.services.run_data.last_aggregate(job_id)
        reported = self.services.jobs.get(SYSTEM, job_id).current_round
        return min(last.round if last else 0, reported)

    def recover(self) -> list[int]:
        """After the control center restarts: every run it had open is either still
        served (its server process alive: watch it), ended meanwhile (settle it from its
        outcome file), or lost (FAILED, with the reason). Returns the runs it watches."""
        watched = []
        for status in (JobStatus.STARTING.value, JobStatus.RUNNING.value):
            for job in self.services.jobs.list(SYSTEM, status=status):
                if job.id in self._procs or job.id in self._threads:
                    continue
                if protocol_for(job.config_snapshot).in_center:  # its edges go on unheard
                    stop = Message(MessageType.CONTROL, job_id=job.id, body={"action": STOP})
                    self.hub.publish(RunAddress(job.project, job.id).server_control, stop)
                    why = "the control center keeping this run restarted; its edges were stopped"
                    self._settle(job.id, why, away=True)
                    continue
                pid = _live_server_pid(self._run_dir(job.id))
                if pid is None:
                    reason = "the control center restarted and the run's server was gone"
                    self._settle(job.id, reason, away=True)
                    continue
                watched.append(job.id)
                threading.Thread(
                    target=self._watch_pid,
                    args=(job.id, pid),
                    daemon=True,
                    name=f"fl-server-watch-{job.id}",
                ).start()
        return watched

    def _watch_pid(self, job_id: int, pid: int) -> None:
        import psutil

        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).wait()
        self._settle(job_id, "its server ended while the control center was away", away=True)
        if self.on_exit:
            self.on_exit(job_id)

    def _settle(self, job_id: int, crash_reason: str, away: bool = False) -> None:
        """After the server ended: make sure the job's status says how, even if the hub
        lost its last words. The server's outcome file is the authority; without one the
        server crashed and the run FAILED. `away`: this control center was not listening
        for part of the run (it restarted, or its hub connection was down): the rounds it
        missed come from the outcome."""
        away = away or self._outages != self._outages_at_start.pop(job_id, self._outages)
        outcome = self._run_dir(job_id).read_outcome() or {
            "state": "FAILED",
            "reason": crash_reason or "server ended without a result",
        }
        history = outcome.get("history")
        if away and isinstance(history, list):
            time.sleep(2.0)  # what ingest heard of the last rounds is written first
            missed = self.services.run_data.record_missed_rounds(
                job_id, history, lambda rnd: self._run_dir(job_id).model(rnd, "aggregate")
            )
            if missed:
                text = (
                    f"rounds {', '.join(map(str, missed))} were recorded from the run's folder: "
                    "no control center listened when the server reported them"
                )
                self.services.run_data.note(job_id, "center", "WARNING", text)
        settled = self.services.jobs.settle(
            SYSTEM,
            job_id,
            outcome.get("state", "FAILED"),
            outcome.get("reason", ""),
            int(outcome.get("rounds_done") or 0),
        )
        if settled and self.events is not None:  # ingest will not announce what it never saw
            job = self.services.jobs.get(SYSTEM, job_id)
            self.events.emit(
                LiveEvent(
                    "job",
                    job_id,
                    {
                        "status": job.status,
                        "round": job.current_round,
                        "reason": job.status_reason,
                        "test_accuracy": None,
                        "name": job.name,
                    },
                )
            )
        export_ended_run(self.services, job_id)  # where its project says (if anywhere)

    def wait(self, job_id: int, timeout: float | None = None) -> bool:
        if job_id in self._procs:
            try:
                self._procs[job_id].wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def stop(self, actor: Actor, job_id: int, grace_s: float = 20.0) -> None:
        """Ask the server to stop at its next step; terminate it if it does not."""
        require(actor, Role.OPERATOR, "stop jobs")
        job = self.services.jobs.get(actor, job_id)
        if JobStatus(job.status) in TERMINAL:
            raise InvalidInput(f"job {job_id} is already {job.status}")
        if job.status == JobStatus.QUEUED.value:
            self.services.jobs.transition(actor, job_id, "STOPPED", f"cancelled by {actor.name}")
            return
        run = RunAddress(job.project, job_id)
        self.hub.publish(
            run.center_control,
            Message(MessageType.CONTROL, job_id=job_id, body={"action": STOP, "by": actor.name}),
        )
        self._stopping.add(job_id)
        if job_id in self._procs or job_id in self._threads:
            if not self.wait(job_id, grace_s) and job_id in self._procs:
                self._procs[job_id].terminate()
                self._procs[job_id].wait(10)
        else:  # started by another process: its server announces STOPPED through ingest
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                if JobStatus(self.services.jobs.get(SYSTEM, job_id).status) in TERMINAL:
                    return
                time.sleep(0.25)
        job = self.services.jobs.get(SYSTEM, job_id)
        if JobStatus(job.status) not in TERMINAL:
            self.services.jobs.transition(SYSTEM, job_id, "STOPPED", f"stopped by {actor.name}")

    def shutdown(self) -> None:
        if self.standby is not None:
            self.standby.close()
        stop_processes(self._procs.values())


def _live_server_pid(run_dir: RunDir) -> int | None:
    """The pid of the run's server if that process still runs (and is that server)."""
    import psutil

    try:
        pid = int(run_dir.pid_file.read_text())
        written = run_dir.pid_file.stat().st_mtime
        process = psutil.Process(pid)
        cmdline, started = process.cmdline(), process.create_time()
    except (OSError, ValueError, psutil.Error):
        return None
    # A feddeck server that was running when the file was written (a standby is handed its
    # run after it started); a process started later has only reused the pid.
    is_server = " server " in f" {' '.join(cmdline)} " and "app" in cmdline
    return pid if is_server and started <= written + 1.0 else None
