"""The versioned KV in the simulator: clients read a key at one replica and write it back
at another with the context they read, while the nemesis partitions and crashes; the
verdict is ``protocols.check.vkv`` (no acknowledged write lost, nothing invented) once
every replica holds the same state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocols.check.vkv import Write, lost_writes
from protocols.common.errors import InvalidRequest
from protocols.contract import Answer
from protocols.sim.api import SimAdapter, Verdict, WorkloadFactory, WorkloadParams
from protocols.vkv import SPEC, VkvSpec
from protocols.vkv.core import Get, Put, VkvCore
from protocols.vkv.state import encode

if TYPE_CHECKING:
    from protocols.check.history import History
    from protocols.sim.world import World

__all__ = ["ADAPTER", "SHARED_VALUES", "SiblingWorkload", "converged"]

SHARED_VALUES = ("eggs", "milk")  # values several clients write


def cores(world: World) -> dict[str, VkvCore]:
    return {n: node.core for n, node in world.nodes.items()
            if node.up and isinstance(node.core, VkvCore)}


def converged(world: World) -> bool:
    """Every up replica holds the same state of every key."""
    states = [{k: encode(s) for k, s in c.store.items()} for c in cores(world).values()]
    return all(s == states[0] for s in states)


@dataclass
class SiblingWorkload:
    """Read-modify-write clients: read at a random replica, write a value at a random
    replica with that read's context (the key space is small, so they race); after an
    answered write, sometimes write again at once with the answer's context (it lists
    the siblings it covers). Most values are unique; a quarter are ``eggs`` or ``milk``,
    written by every client."""

    world: World
    clients: int = 3
    keys: int = 3
    stop_at_ms: int = 5000
    acknowledged: list[Write] = field(default_factory=list)
    attempted: list[Write] = field(default_factory=list)
    observed: set[tuple[str, str]] = field(default_factory=set)  # every value a read saw
    pending: dict[Any, Any] = field(default_factory=dict)
    ops: int = 0
    refused: int = 0  # writes refused: the replica had not seen what the context named
    peak_siblings: int = 0
    history: History | None = None

    def start(self) -> None:
        self.world.answer_hooks.append(self._on_answer)
        for c in range(self.clients):
            self.world.at(1 + 11 * c, lambda c=c: self._read(c))  # type: ignore[misc]

    def _read(self, client: int) -> None:
        w = self.world
        if w.now >= self.stop_at_ms:
            return
        self.ops += 1
        rng = w.rng(f"vkv/{client}/{self.ops}")
        key = f"k{rng.randrange(self.keys)}"
        rid = ("get", client, self.ops)
        node = rng.choice(w.ids)
        self.pending[rid] = (client, key, node)
        w.submit(node, Get(key), request_id=rid)
        w.at(500, lambda: self._give_up(rid, client))

    def _on_answer(self, answer: Answer) -> None:
        what = self.pending.pop(answer.request_id, None)
        if what is None:
            return
        rid = answer.request_id
        if rid[0] == "get":
            client, key, node = what
            if answer.error is None:
                values, context = answer.result
                self.observed.update((key, v) for v in values)
                self._write(client, key, values, context, node)
            else:
                self.world.at(10, lambda: self._read(client))
        else:
            client, write, node = what
            rng = self.world.rng(f"pace/{rid}")
            if answer.error is None:
                self.acknowledged.append(write)
                key, (values, context) = write[0], answer.result
                self.observed.update((key, v) for v in values)
                if rng.random() < 0.3 and self.world.now < self.stop_at_ms:
                    self.ops += 1  # write again over what the answer showed
                    self._write(client, key, values, context, node)
                    return
            elif isinstance(answer.error, InvalidRequest):
                self.refused += 1
            self.world.at(rng.randrange(5, 40), lambda: self._read(client))

    def _write(self, client: int, key: str, values: list[str], context: dict[str, int],
               seen_at: str) -> None:
        """Mostly where the context came from; else at any replica, which refuses it if
        it has not seen what the context names (the client then reads again)."""
        w = self.world
        self.peak_siblings = max(self.peak_siblings, len(values))
        # most values are unique (the lost-write check tells writes apart by value);
        # some repeat, as two shoppers both adding milk do: siblings are a multiset
        rng = w.rng(f"vkv/value/{client}/{self.ops}")
        value = rng.choice(SHARED_VALUES) if rng.random() < 0.25 else f"c{client}-{self.ops}"
        rid = ("put", client, self.ops)
        write = (key, value, frozenset(values))
        self.attempted.append(write)
        where = w.rng(f"vkv/put/{client}/{self.ops}")
        node = seen_at if where.random() < 0.75 else where.choice(w.ids)
        self.pending[rid] = (client, write, node)
        w.submit(node, Put(key, value, context), request_id=rid)
        w.at(500, lambda: self._give_up(rid, client))

    def _give_up(self, rid: Any, client: int) -> None:
        if self.pending.pop(rid, None) is not None:  # no answer (crash, partition)
            self._read(client)

    @property
    def idle(self) -> bool:
        return self.world.now >= self.stop_at_ms and not self.pending \
            and converged(self.world)

    def final(self) -> dict[str, list[str]]:
        some = next(iter(cores(self.world).values()))
        return {k: s.values() for k, s in some.store.items()}

    def verdict(self) -> Verdict:
        if not converged(self.world):
            return Verdict("no lost writes", "unknown", "the replicas did not converge")
        problems = lost_writes(self.acknowledged, self.attempted, self.final(),
                               self.observed)
        if problems:
            return Verdict("no lost writes", "violation", "; ".join(problems[:3]))
        sizes = [len(v) for v in self.final().values()]
        return Verdict("no lost writes", "ok",
                       f"{len(self.acknowledged)} acknowledged writes, none lost "
                       f"({self.refused} refused); siblings now {sizes}, at most "
                       f"{self.peak_siblings} read at once")


def sibling_workload(world: World, params: WorkloadParams) -> SiblingWorkload:
    return SiblingWorkload(world, clients=params.clients, keys=params.keys,
                           stop_at_ms=params.stop_at_ms)


class VkvAdapter(SimAdapter):
    name = "vkv"
    spec: VkvSpec = SPEC

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"siblings": sibling_workload}


ADAPTER = VkvAdapter()
