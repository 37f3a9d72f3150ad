"""The trust graph of a server-free run: who sends its model to whom.

A link a → b means a trusts b with its model: a pushes to b's inbox, and the hub lets a
reach no other edge's. The graph is built from the config's `[decentralized]` table over
the run's edges, ordered by name, so the control center, the hub's access rules and every
edge build the same one. It must be strongly connected (every edge's model reaches every
other's, else they cannot agree).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from app.errors import InvalidInput


@dataclass(frozen=True)
class TrustGraph:
    nodes: tuple[str, ...]
    links: frozenset[tuple[str, str]]
    # One-peer exponential (Assran et al. 2019): in round r each node sends only to the
    # node hops[r % len(hops)] after it on `ring`; `links` holds every round's links.
    ring: tuple[str, ...] = ()
    hops: tuple[int, ...] = ()

    def out(self, node: str) -> list[str]:
        return sorted(b for a, b in self.links if a == node)

    def into(self, node: str) -> list[str]:
        return sorted(a for a, b in self.links if b == node)

    def peers_in_round(self, node: str, rnd: int) -> tuple[list[str], list[str]]:
        """Whom `node` sends to and hears from in round `rnd` (1-based)."""
        if not self.hops:
            return self.out(node), self.into(node)
        hop, i, n = self.hops[(rnd - 1) % len(self.hops)], self.ring.index(node), len(self.ring)
        to, heard = self.ring[(i + hop) % n], self.ring[(i - hop) % n]
        return [to] if to in self.nodes else [], [heard] if heard in self.nodes else []

    def without(self, gone: Iterable[str]) -> TrustGraph:
        gone = set(gone)
        return TrustGraph(
            tuple(n for n in self.nodes if n not in gone),
            frozenset((a, b) for a, b in self.links if a not in gone and b not in gone),
            self.ring,
            self.hops,
        )

    def unreached(self) -> list[str]:
        """The nodes not reached from the first, or not reaching it (empty: strongly
        connected)."""
        apart = self.apart()
        return [n for n in self.nodes if n in apart[0] or n in apart[1]]

    def apart(self) -> tuple[list[str], list[str]]:
        """The nodes the first node's model never reaches, and those whose model never
        reaches the first."""
        if not self.nodes:
            return [], []
        start = self.nodes[0]
        forward = _reach(start, {(a, b) for a, b in self.links})
        backward = _reach(start, {(b, a) for a, b in self.links})
        return [n for n in self.nodes if n not in forward], [
            n for n in self.nodes if n not in backward
        ]

    def why_apart(self) -> str:
        """Why the graph is not strongly connected, in words ('' if it is)."""
        never_in, never_out = self.apart()
        first = self.nodes[0] if self.nodes else ""
        said = [f"{first}'s model never reaches {', '.join(never_in)}"] if never_in else []
        if never_out:
            said.append(f"the models of {', '.join(never_out)} never reach {first}")
        return "; ".join(said)

    def as_dict(self) -> dict:
        return {
            "nodes": list(self.nodes),
            "links": sorted(map(list, self.links)),
            **({"ring": list(self.ring), "hops": list(self.hops)} if self.hops else {}),
        }

    @classmethod
    def from_dict(cls, data: object) -> TrustGraph:
        """A graph as `as_dict` wrote it (from a peer's message); ValueError if malformed."""
        try:
            nodes = tuple(str(n) for n in data["nodes"])  # type: ignore[index]
            links = frozenset((str(a), str(b)) for a, b in data["links"])  # type: ignore[index]
            ring = tuple(str(n) for n in data.get("ring", ()))  # type: ignore[union-attr]
            hops = tuple(int(h) for h in data.get("hops", ()))  # type: ignore[union-attr]
        except (TypeError, KeyError, ValueError, AttributeError):
            raise ValueError(f"a malformed trust graph: {str(data)[:200]}") from None
        if any(a not in nodes or b not in nodes for a, b in links) or (hops and not ring):
            raise ValueError("a trust graph whose links name nodes it lacks")
        return cls(nodes, links, ring, hops)


def _reach(start: str, links: set[tuple[str, str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for a, b in links:
            if a == here and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def build_graph(spec, names: Iterable[str]) -> TrustGraph:
    """The graph `spec` (fl_config.DecentralizedSpec) makes over the edges `names`;
    InvalidInput naming what is wrong (an unknown edge, a self link, a graph not strongly
    connected)."""
    nodes = tuple(sorted(set(names)))
    n = len(nodes)
    if n < 2:
        raise InvalidInput("a server-free run needs at least 2 edges")
    rng = random.Random(spec.seed)
    hops: tuple[int, ...] = ()
    if spec.graph == "ring":
        links = {(nodes[i], nodes[(i + 1) % n]) for i in range(n)}
    elif spec.graph == "exponential":  # i → i + 2^k, one k a round: log2(n) rounds mix all
        hops = tuple(2**k for k in range(max(1, math.ceil(math.log2(n)))))
        links = {(nodes[i], nodes[(i + h) % n]) for i in range(n) for h in hops}
    elif spec.graph == "watts_strogatz":
        links = _watts_strogatz(nodes, spec.neighbours, spec.rewire, rng)
    else:  # "links": the operator's own
        links = set()
        for a, b in spec.links:
            unknown = [x for x in (a, b) if x not in nodes]
            if unknown:
                raise InvalidInput(
                    f"decentralized.links: {', '.join(unknown)} is not an edge of this run "
                    f"(its edges: {', '.join(nodes)})"
                )
            links.add((a, b))
    for a, b in links:
        if a == b:
            raise InvalidInput(f"decentralized.links: {a} links to itself")
    if hops and spec.random_links:
        raise InvalidInput("decentralized.random_links cannot be added to a one-peer graph")
    links |= _random_links(nodes, links, spec.random_links, rng)
    graph = TrustGraph(nodes, frozenset(links), nodes if hops else (), hops)
    if graph.unreached():
        raise InvalidInput(
            f"the trust graph is not strongly connected: {graph.why_apart()}; add links "
            "(decentralized.links or random_links)"
        )
    return graph


def _watts_strogatz(nodes, neighbours: int, rewire: float, rng: random.Random) -> set:
    """Each node linked both ways to its `neighbours` nearest on a ring, each link then
    sent elsewhere with probability `rewire` (Watts & Strogatz 1998), seeded."""
    n = len(nodes)
    half = max(1, min(neighbours // 2, (n - 1) // 2 or 1))
    links = set()
    for i in range(n):
        for step in range(1, half + 1):
            for j in (i + step, i - step):
                target = j % n
                if rng.random() < rewire:
                    target = rng.choice([t for t in range(n) if t != i])
                links.add((nodes[i], nodes[target]))
    return links


def _random_links(nodes, links: set, count: int, rng: random.Random) -> set:
    free = [(a, b) for a in nodes for b in nodes if a != b and (a, b) not in links]
    return set(rng.sample(free, min(count, len(free))))


def device_graph(spec, devices: dict[str, str]) -> TrustGraph:
    """`build_graph` over the edges `devices` (name → device id), given by device id, as
    the hub and the edges address each other."""
    graph = build_graph(spec, devices)
    return TrustGraph(
        tuple(devices[n] for n in graph.nodes),
        frozenset((devices[a], devices[b]) for a, b in graph.links),
        tuple(devices[n] for n in graph.ring),
        graph.hops,
    )


def peer_links(config_snapshot: dict, devices: dict[str, str]) -> frozenset[tuple[str, str]]:
    """A stored job's trust-graph links by device id; none for a job with a server, or
    one whose graph cannot be built (its run fails on that, and nobody gets a link)."""
    from app.core.algorithms import is_peer
    from app.core.fl_config import parse_config

    try:
        config = parse_config(config_snapshot)
        if not is_peer(config.algorithm.name):
            return frozenset()
        return device_graph(config.decentralized, devices).links
    except (InvalidInput, KeyError):
        return frozenset()
