"""What the hub tells an FL server about its edges, on the hub's dispatch thread: joins,
refusals and failures (a run's status topic), going offline and coming back (the edges'
own status), each said in the run's log and queued for the round loop, which decides."""

from __future__ import annotations

import queue
from collections.abc import Callable

from app.core.run.members import RunMembers
from app.core.run.protocol import FAILED, JOINED, REFUSED
from app.wire.messages import Message


class RunLiveness:
    def __init__(
        self,
        members: RunMembers,
        edges: list[str],
        say: Callable[[str, str], None],
        inbox: queue.Queue[tuple[str, Message]],
    ) -> None:
        self.members, self.edges, self.say, self.inbox = members, edges, say, inbox
        self.round_now = 0  # the round in progress (0: edges still joining), for the log

    def on_run_status(self, topic: str, message: Message) -> None:
        state, node = message.body.get("state"), message.sender
        if node not in self.edges:
            return
        if state == JOINED:
            name = str(message.body.get("name", ""))[:64]
            key = str(message.body.get("secagg_key", ""))[:64]
            self.members.joined(node, str(message.body.get("device", "")), name, key)
        elif state in (REFUSED, FAILED):  # before joining, or a task that raised mid-run
            reason = str(message.body.get("reason", ""))[:500] or "no reason given"
            self.members.refused(node, reason, str(message.body.get("name", ""))[:64])
            self.inbox.put(("offline", message))
            if state == FAILED:
                self.say("ERROR", f"edge {self.members.shown(node)} left the run: {reason}")

    def on_edge_status(self, topic: str, message: Message) -> None:
        node = topic.split("/")[2]
        if node not in self.edges:
            return
        state = message.body.get("state")
        if state == "OFFLINE":
            if self.members.went_offline([node]):
                self.say("WARNING", f"{self.members.shown(node)} went offline{self.where()}")
            self.inbox.put(("offline", message))
        elif state == "TRAINING" and message.body.get("reconnected"):  # with the run loaded
            if self.members.came_back(node):  # a warning too: the pair tells the story
                self.say(
                    "WARNING",
                    f"{self.members.shown(node)} came back{self.where()}; "
                    "it takes part again when picked",
                )
            self.inbox.put(("back", message))

    def where(self) -> str:
        """' in round 41; continuing with 3 of 4': when, and what the run does next."""
        rnd = self.round_now
        when = f" in round {rnd}" if rnd else " before the first round"
        alive = len(self.members.alive())
        return f"{when}; continuing with {alive} of {len(self.edges)}"
