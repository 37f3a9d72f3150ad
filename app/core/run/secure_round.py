"""The FL server's steps of a round under secure aggregation (app/core/secagg): the round's
keys handed out with the model, each masked update checked and summed, then the survivors
asked to take the masks off and the round's mean unmasked from their answers."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

from app.core.run.members import RunMembers
from app.core.secagg.masking import Weights
from app.core.secagg.secure_sum import SecureSum, threshold_for
from app.wire.messages import Message, MessageType

Say = Callable[[str, str], None]


class SecureRounds:
    def __init__(self, members: RunMembers, max_dropout: float, job_id: int, say: Say) -> None:
        self.members, self.max_dropout, self.job_id, self.say = members, max_dropout, job_id, say

    def begin(self, rnd: int, selected: list[str], reference: Weights) -> SecureSum:
        keys = self.members.keys(selected)
        missing = [self.members.shown(n) for n in selected if n not in keys]
        if missing:
            raise RuntimeError(
                f"round {rnd}: {', '.join(missing)} announced no secure-aggregation key "
                "(an edge agent older than this run's config?)"
            )
        return SecureSum(reference, keys, threshold_for(len(selected), self.max_dropout))

    def problem(
        self, message: Message, rnd: int, waiting: set[str], secure: SecureSum
    ) -> str | None:
        if message.sender not in waiting:
            return "not selected for this round"
        if message.job_id != self.job_id:
            return f"it is for run {message.job_id}"
        if message.round != rnd:
            return f"it is for round {message.round}"
        return secure.problem(message)

    def unmask(
        self,
        rnd: int,
        secure: SecureSum,
        publish: Callable[[Message], None],
        inbox: queue.Queue,
        timeout_s: float,
        stopped: Callable[[], bool],
    ) -> Weights:
        """Ask the survivors to take the masks off; the round's mean once they have (or,
        at the deadline, with the answers there are). RuntimeError says why it cannot."""
        shown = self.members.shown
        dropped = sorted(set(secure.order) - set(secure.nodes))
        publish(
            Message(
                MessageType.MODEL_DOWN,
                job_id=self.job_id,
                round=rnd,
                body={"round": rnd, **secure.unmask_request()},
            )
        )
        deadline = time.monotonic() + timeout_s
        while not secure.complete() and time.monotonic() < deadline:
            if set(secure.nodes) - set(secure.answers) <= self.members.offline():
                break  # the rest will not answer
            try:
                kind, message = inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if stopped():
                return {}
            if (
                kind in ("offline", "stop", "back", "resend")
                or message.type != MessageType.MODEL_UP
                or message.round != rnd
                or not message.body.get("unmask")
            ):
                continue
            problem = secure.take_answer(message.sender, message.body)
            if problem:
                self.say(
                    "WARNING",
                    f"round {rnd}: refused {shown(message.sender)}'s unmasking: {problem}",
                )
        try:
            mean, samples = secure.unmask()
        except ValueError as exc:
            raise RuntimeError(f"round {rnd}: the sum could not be unmasked: {exc}") from None
        said = f"round {rnd}: the sum of {len(secure.nodes)} masked updates ({samples} samples)"
        if dropped:
            said += f", unmasked without {', '.join(shown(n) for n in dropped)} (dropped out)"
        self.say("INFO" if not dropped else "WARNING", said)
        return mean
