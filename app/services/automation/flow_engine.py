"""Advances flow runs: starts steps whose parents are done and whose condition holds, hands
a parent's aggregated model to its child, retries failed steps, and settles the run.

Stateless between ticks (everything is in the database), so a run survives the process
that started it; a lease on each run keeps two engines from advancing the same one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from app.core.run.spec import StoredModel
from app.errors import FedDeckError
from app.services.automation import leases
from app.services.automation.flow_definitions import StepCondition, StepDef
from app.services.automation.flows import STEP_DONE, definition_of, load_run
from app.services.automation.job_templates import EdgesNotReady, JobNotStarted, launch_job
from app.services.entities.job_status import TERMINAL
from app.services.security.auth import SYSTEM, Actor
from app.storage.models import FlowRun, JobStatus, Role, User, utcnow

log = logging.getLogger(__name__)

StartJob = Callable[[Actor, int], None]


def run_actor(s, user_id: int | None) -> Actor:
    """Act as the user who created the schedule or run; refused if they may no longer."""
    user = s.get(User, user_id) if user_id is not None else None
    if user is None:
        return SYSTEM if user_id is None else Actor(None, "deleted user", Role.VIEWER)
    return Actor(user.id, user.name, Role(user.role))


class FlowEngine:
    def __init__(
        self,
        services,
        start_job: StartJob,
        owner: str,
        clock: Callable[[], datetime] = utcnow,
        lease_s: float = 30.0,
    ) -> None:
        self.services, self.start_job = services, start_job
        self.owner, self.clock, self.lease_s = owner, clock, lease_s

    # -- leases -----------------------------------------------------------------------
    def claim(self, only: int | None = None) -> list[int]:
        """Take (or renew) the lease of every RUNNING flow run nobody else holds (or of
        the one run `only`)."""
        scope = [FlowRun.status == "RUNNING"] + ([FlowRun.id == only] if only is not None else [])
        lease = timedelta(seconds=self.lease_s)
        return leases.claim(self.services.db, FlowRun, self.owner, self.clock(), lease, *scope)

    def release(self) -> None:
        leases.release(self.services.db, FlowRun, self.owner)

    def tick(self, only: int | None = None) -> list[int]:
        """Advance every run this engine holds; returns the ids of runs that changed."""
        changed = []
        for flow_run_id in self.claim(only):
            try:
                if self.advance(flow_run_id):
                    changed.append(flow_run_id)
            except Exception:  # one broken run must not stop the others
                log.exception("flow run %s could not advance", flow_run_id)
        return changed

    # -- one run ------------------------------------------------------------------------
    def advance(self, flow_run_id: int) -> bool:
        with self.services.db.session() as s:
            run = load_run(s, flow_run_id)
            if run.status != "RUNNING":
                return False
            definition = definition_of(run.flow)
            actor = run_actor(s, run.created_by)
            states = {st.step: (st.status, st.job_id, st.attempts) for st in run.steps}
            since = {st.step: st.updated_at for st in run.steps}
            flow_name = run.flow.name
        changed = False
        for name in definition.order():
            status, job_id, attempts = states[name]
            step = definition.step(name)
            if status == "RUNNING":
                update_ = self._follow(actor, flow_name, step, job_id, attempts)
            elif status in ("PENDING", "WAITING"):
                attempt = max(attempts, 1) if status == "WAITING" else 1
                update_ = self._maybe_start(actor, flow_name, step, states, attempt)
            else:
                continue
            update_ = self._waiting(step, status, attempts, since[name], update_)
            if update_ is not None:
                states[name] = (update_[0], update_[2], update_[3])
                self._save_step(flow_run_id, name, *update_)
                changed = True
        if all(st[0] in STEP_DONE for st in states.values()):
            self._settle(flow_run_id, states)
            changed = True
        return changed

    def _follow(self, actor, flow_name, step: StepDef, job_id, attempts):
        job = self.services.jobs.get(SYSTEM, job_id) if job_id else None
        if job is None:
            return ("FAILED", "its job was deleted", None, attempts)
        if JobStatus(job.status) not in TERMINAL:
            return None
        if job.status == JobStatus.FINISHED.value:
            return ("SUCCEEDED", f"job {job.id} finished", job.id, attempts)
        why = f"job {job.id} {job.status}: {job.status_reason}"[:500]
        if attempts <= step.retries:
            return self._launch(actor, flow_name, step, attempts + 1, job.init_model, why)
        return ("FAILED", f"{why} (after {attempts} attempt(s))", job.id, attempts)

    def _waiting(self, step: StepDef, status, attempts, since, update_):
        """A launch that found no edge ready: the step starts waiting (its row's update
        time marks since when), keeps waiting (None: nothing to save), or, the wait over,
        uses a retry (a new wait) or fails."""
        if update_ is None or update_[0] != "WAITING":
            return update_
        _, missing, _, attempt = update_
        limit = step.job.wait_for_edges_s
        waiting = f"waiting up to {limit:g} s: {missing}"[:500]
        if status != "WAITING" and limit > 0:
            return ("WAITING", waiting, None, attempt)
        if status == "WAITING" and since and self.clock() - since < timedelta(seconds=limit):
            return None
        why = f"{missing} after waiting {limit:g} s"
        if attempt <= step.retries:
            return ("WAITING", f"attempt {attempt + 1}, {waiting}"[:500], None, attempt + 1)
        return ("FAILED", f"{why} (after {attempt} attempt(s))"[:500], None, attempt)

    def _maybe_start(self, actor, flow_name, step: StepDef, states, attempt: int = 1):
        parents = {p: states[p] for p in step.depends_on}
        if any(st[0] not in STEP_DONE for st in parents.values()):
            return None
        skipped = [p for p, st in parents.items() if st[0] == "SKIPPED"]
        if skipped:
            return ("SKIPPED", f"parent {skipped[0]!r} was skipped", None, 0)
        for parent, (_, job_id, _) in parents.items():
            refusal = self._condition_refuses(step.condition, parent, job_id)
            if refusal:
                return ("SKIPPED", refusal, None, 0)
        init_model = None
        if step.job.init_from is not None:
            init_model = self._aggregated_model(parents[step.job.init_from][1])
            if init_model is None:
                why = f"parent {step.job.init_from!r} left no aggregated model to start from"
                return ("FAILED", why, None, 0)
        return self._launch(actor, flow_name, step, attempt, init_model, "")

    def _condition_refuses(self, condition: StepCondition, parent: str, job_id) -> str:
        """Why `condition` does not hold for the parent's run ('' when it holds)."""
        if job_id is None:
            return f"parent {parent!r} has no run"
        job = self.services.jobs.get(SYSTEM, job_id)
        if job.status not in condition.status:
            return f"parent {parent!r} ended {job.status}; the condition wants {condition.status}"
        final = self._final_metrics(job_id)
        if condition.min_accuracy is not None:
            acc = final.get("test_accuracy")
            if acc is None or acc < condition.min_accuracy:
                shown = "no accuracy" if acc is None else f"accuracy {acc:.4f}"
                return f"parent {parent!r} reached {shown} < {condition.min_accuracy}"
        for metric in condition.metrics:
            value = final.get(metric.name)
            if value is None or not metric.holds(value):
                return (
                    f"parent {parent!r}: {metric.name} = {value} does not satisfy "
                    f"{metric.op} {metric.value}"
                )
        return ""

    def _final_metrics(self, job_id: int) -> dict[str, float]:
        final: dict[str, float] = {}
        for m in self.services.run_data.metrics(SYSTEM, job_id):  # ordered by round
            if m.node == "aggregate":
                final[m.name] = m.value
        return final

    def _aggregated_model(self, job_id: int | None) -> dict | None:
        if job_id is None:
            return None
        artifacts = self.services.run_data.artifacts(SYSTEM, job_id)
        models = [a for a in artifacts if a.node == "aggregate"]
        if not models:
            return None
        last = models[-1]
        return StoredModel(Path(last.path), last.sha256, job_id, last.round).to_json()

    def _launch(self, actor, flow_name, step: StepDef, attempt, init_model, previous: str):
        try:
            job = launch_job(
                self.services,
                self.start_job,
                actor,
                step.job,
                source=step.name,
                fired=self.clock(),
                attempt=attempt,
                extra_tags=("flow", flow_name),
                init_model=init_model,
            )
        except EdgesNotReady as exc:  # _waiting decides: wait, retry or fail
            return ("WAITING", str(exc), None, attempt)
        except JobNotStarted as exc:
            return ("FAILED", str(exc), exc.job_id, attempt)
        except FedDeckError as exc:
            return ("FAILED", f"could not create its job: {exc}", None, attempt)
        note = f"attempt {attempt} after {previous}" if previous else f"job {job.id} started"
        return ("RUNNING", note[:500], job.id, attempt)

    def _save_step(self, flow_run_id, name, status, reason, job_id, attempts) -> None:
        with self.services.db.session() as s:
            run = load_run(s, flow_run_id)
            st = next(x for x in run.steps if x.step == name)
            st.status, st.reason, st.job_id, st.attempts = status, reason, job_id, attempts
            st.updated_at = self.clock()
        log.info("flow run %s: step %s %s (%s)", flow_run_id, name, status, reason)

    def _settle(self, flow_run_id: int, states) -> None:
        failed = [name for name, st in states.items() if st[0] == "FAILED"]
        with self.services.db.session() as s:
            run = load_run(s, flow_run_id)
            if run.status != "RUNNING":
                return
            run.status = "FAILED" if failed else "FINISHED"
            run.reason = f"step(s) failed: {', '.join(failed)}" if failed else ""
            run.finished_at = self.clock()
            run.lease_owner = run.lease_until = None


def stop_flow_run(services, stop_job: Callable[[Actor, int], None], actor: Actor, flow_run_id: int):
    """Stop a flow run: waiting steps are skipped, running steps' jobs are stopped."""
    run = services.flows.request_stop(actor, flow_run_id)
    for step in run.steps:
        if step["status"] == "RUNNING" and step["job_status"] in ("QUEUED", "STARTING", "RUNNING"):
            try:
                stop_job(actor, step["job_id"])
            except FedDeckError as exc:  # it ended meanwhile
                log.info("flow run %s: job %s: %s", flow_run_id, step["job_id"], exc)
    return services.flows.run(actor, flow_run_id)
