"""A run started from a shell while a control center runs goes to that center: its warm
standby server starts it in a fraction of a second, its ingest is the only one storing the
run, and its launcher watches the server. A FedDeck command asks on the hub
(`fd/center/launch`, which only FedDeck's services may use); a center answers `taken` at
once, then `started` or `refused` with the reason. No answer within a moment means no
center listens, and the command starts the run itself.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Callable

from app import errors
from app.errors import FedDeckError
from app.services.registry import Services
from app.services.security.auth import Actor
from app.wire import topics
from app.wire.hub import Hub
from app.wire.messages import Message, MessageType

log = logging.getLogger(__name__)

TAKEN, STARTED, REFUSED = "taken", "started", "refused"


class LaunchDesk:
    """The center's side: starts the runs commands ask for, with `start(actor, job_id)`."""

    def __init__(self, hub: Hub, services: Services, start: Callable[[Actor, int], None]):
        self.hub, self.services, self._start = hub, services, start
        self._sub = hub.subscribe(topics.CENTER_LAUNCH, self._on_request)

    def close(self) -> None:
        self.hub.unsubscribe(self._sub)

    def _on_request(self, _topic: str, message: Message) -> None:
        body = message.body
        try:
            reply = topics.center_reply(str(body["reply"]))
            job_id, user = int(body["job"]), str(body["user"])
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("a launch request from %s was malformed: %s", message.sender, exc)
            return
        self._answer(reply, TAKEN)
        # off the hub's dispatch thread: a start writes to the database
        threading.Thread(
            target=self._serve, args=(reply, job_id, user), daemon=True, name=f"launch-{job_id}"
        ).start()

    def _serve(self, reply: str, job_id: int, user: str) -> None:
        try:
            self._start(self.services.users.signed_in(user), job_id)
        except FedDeckError as exc:
            self._answer(reply, REFUSED, error=type(exc).__name__, reason=str(exc))
        except Exception as exc:
            log.exception("job %s: a requested start failed", job_id)
            self._answer(reply, REFUSED, reason=f"the control center could not start it: {exc}")
        else:
            log.info("job %s started for %s, as asked over the hub", job_id, user)
            self._answer(reply, STARTED)

    def _answer(self, reply: str, state: str, **extra: str) -> None:
        self.hub.publish(reply, Message(MessageType.CONTROL, body={"state": state, **extra}))


def ask_center(
    hub: Hub, user: str, job_id: int, presence_s: float = 0.5, timeout_s: float = 30.0
) -> bool:
    """True once a control center on `hub` started the run; False when none answered
    within `presence_s`. A refusal is raised as the error the center met (with two centers
    on one hub, both take the request and one starts the run: its answer counts)."""
    answers: queue.Queue[dict] = queue.Queue()
    request = secrets.token_hex(8)
    sub = hub.subscribe(topics.center_reply(request), lambda _t, m: answers.put(m.body))
    try:
        body = {"job": job_id, "user": user, "reply": request}
        hub.publish(topics.CENTER_LAUNCH, Message(MessageType.CONTROL, body=body))
        takers, refusals = 0, []
        while not takers or len(refusals) < takers:
            try:
                answer = answers.get(timeout=timeout_s if takers else presence_s)
            except queue.Empty:
                if not takers:
                    return False
                raise FedDeckError(
                    f"the control center took job {job_id} but did not say within "
                    f"{timeout_s:g} s whether it started"
                ) from None
            state = answer.get("state")
            takers += state == TAKEN
            if state == STARTED:
                return True
            if state == REFUSED:
                refusals.append(answer)
        kind = getattr(errors, str(refusals[0].get("error")), None)
        if not (isinstance(kind, type) and issubclass(kind, FedDeckError)):
            kind = errors.InvalidInput
        raise kind(str(refusals[0].get("reason", "refused by the control center")))
    finally:
        hub.unsubscribe(sub)
