"""The server's side of secure aggregation: the round's masked updates summed as they
arrive, the request that has the survivors take the masks off, and the sum unmasked from
their answers (see the package's docstring). It never holds an update in the clear."""

from __future__ import annotations

import numpy as np

from app.core.secagg import shamir
from app.core.secagg.masking import Weights, decode, prg, unb64, vector_length
from app.wire.messages import Message

MASKED = "masked"  # the one tensor of a masked update


def threshold_for(edges: int, max_dropout: float) -> int:
    """How many answers unmask a round of `edges`: all but the dropouts allowed, and at
    least two (one answer alone would be that edge's own update)."""
    return max(2, edges - int(edges * max_dropout))


class SecureSum:
    def __init__(self, reference: Weights, keys: dict[str, str], threshold: int) -> None:
        self.reference, self.keys, self.threshold = reference, keys, threshold
        self.order = sorted(keys)
        self.length = vector_length(reference)
        self.total = np.zeros(self.length, dtype=np.uint64)
        self.nodes: list[str] = []
        self._sealed: dict[str, dict[str, str]] = {}  # from each sender: to each edge
        self.answers: dict[str, dict] = {}

    def round_body(self) -> dict:
        return {"secagg": {"keys": self.keys, "threshold": self.threshold}}

    def problem(self, message: Message) -> str | None:
        """Why this masked update is refused, or None."""
        got = message.tensors.get(MASKED)
        if set(message.tensors) != {MASKED} or got is None:
            return f"a masked update is one tensor {MASKED!r}"
        if got.dtype != np.uint64 or got.shape != (self.length,):
            return (
                f"the masked update is {got.dtype}{list(got.shape)}, expected uint64[{self.length}]"
            )
        sealed = message.body.get("shares")
        if not isinstance(sealed, dict) or set(sealed) != set(self.order):
            return "it does not carry one share for every edge of the round"
        return None

    def add(self, node: str, message: Message) -> None:
        self.total += message.tensors[MASKED]  # wraps around: the sum is modulo 2^64
        self._sealed[node] = {str(k): str(v) for k, v in message.body["shares"].items()}
        self.nodes.append(node)

    def unmask_request(self) -> dict:
        """The body that asks the survivors to take the masks off: who survived and, for
        each of them, the shares the survivors encrypted to it."""
        return {
            "unmask": True,
            "survivors": sorted(self.nodes),
            "sealed": {
                to: {sender: self._sealed[sender][to] for sender in self.nodes} for to in self.nodes
            },
            **self.round_body(),
        }

    def take_answer(self, node: str, body: dict) -> str | None:
        """Keep a survivor's answer; why it is refused, or None."""
        if node not in self.nodes:
            return "it sent no masked update this round"
        shares, keys = body.get("seed_shares"), body.get("mask_keys")
        if not isinstance(shares, dict) or not isinstance(keys, dict):
            return "an answer holds seed_shares and mask_keys"
        try:
            parsed = {str(k): int(str(v), 16) for k, v in shares.items()}
            revealed = {str(k): unb64(v, "a mask key") for k, v in keys.items()}
        except ValueError as exc:
            return f"its answer is malformed: {exc}"
        dropped = set(self.order) - set(self.nodes)
        if set(parsed) - set(self.nodes) or set(revealed) != dropped:
            return "it answered for edges other than those asked"
        self.answers[node] = {"seed_shares": parsed, "mask_keys": revealed}
        return None

    def complete(self) -> bool:
        """Every survivor answered (it could be unmasked before: see `unmask`)."""
        return set(self.answers) >= set(self.nodes)

    def unmask(self) -> tuple[Weights, int]:
        """The round's mean update and its samples; ValueError says why it cannot be had."""
        total = self.total.copy()
        xs = {node: i + 1 for i, node in enumerate(self.order)}
        for node in self.nodes:  # each survivor's self mask, from its rebuilt seed
            points = {
                xs[who]: answer["seed_shares"][node]
                for who, answer in self.answers.items()
                if node in answer["seed_shares"]
            }
            if len(points) < self.threshold:
                raise ValueError(
                    f"{len(points)} shares of {node}'s mask seed came back; "
                    f"{self.threshold} are needed"
                )
            seed = shamir.combine(dict(list(points.items())[: self.threshold]))
            if seed >= 2**256:
                raise ValueError(f"the shares of {node}'s mask seed do not agree")
            total -= prg(seed.to_bytes(32, "big"), self.length)
        for gone in sorted(set(self.order) - set(self.nodes)):  # masks left by dropouts
            for node in self.nodes:
                answer = self.answers.get(node)
                if answer is None:
                    raise ValueError(
                        f"{node} did not answer, so its masks with {gone}, who dropped "
                        "out, cannot be taken off"
                    )
                mask = prg(answer["mask_keys"][gone], self.length)
                total += -mask if node < gone else mask  # as node put it on
        return decode(total, self.reference)
