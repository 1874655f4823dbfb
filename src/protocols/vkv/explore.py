"""The versioned KV as models for the explorer (``protocols.explore``).

3 replicas, one key, every order of messages, and one power cut that may tear the
write under way (#33's target). The clients (Dynamo, SOSP 2007, §4.4; the simulator's
``SiblingWorkload`` plays the same parts at random):

* ``write-again``: Bob and Alice write blind (an empty context) at n1: two siblings;
  Alice writes again with the context her write's answer showed her (``FOLLOWS``): she
  replaces what the answer listed, and only that (#31 bug 3 was an answer that listed
  her value alone while its context covered Bob's: Bob's acknowledged write was lost);
* ``made-up-context``: Bob writes at n1; Mallory writes at n2 with a context claiming a
  thousand of n1's writes, which no read ever showed (#31 bug 4: a replica took it at
  its word and dropped n1's writes it had not seen yet).

A command carries its context; a follow-up is the client's only when the answer it
follows came first with that very context (a client writes with what it was shown). A
state where a follow-up went out before is outside the model: the properties do not
judge it and the search goes no further (``in_model``, the model's ``within``). The
replicas start on disks that hold their ids (``Installed``).

Properties, with ``protocols.check.vkv``'s lost-write check at each replica:

* no acknowledged write is lost: a replica that has seen a write (its context covers the
  write's dot) holds its value, unless a write whose client read it replaced it;
* a write replaces what its client read: a replica that holds its value holds none of
  those.
"""

from __future__ import annotations

import copyreg
from collections.abc import Mapping, Sequence
from typing import Any

from protocols.check.history import Event
from protocols.check.vkv import Write, lost_writes
from protocols.clocks import DVVSet, VVSiblings
from protocols.common.wal import SyncPolicy
from protocols.contract import NodeContext, NodeParts, ProtocolSpec
from protocols.explore import Always, Bounds, ExploreAdapter, Sometimes, System
from protocols.explore.canon import FixedRandom
from protocols.vkv import VkvSpec, VkvStorage
from protocols.vkv.core import Put, ReplicaIdRecord, VkvCore, member_of
from protocols.vkv.sim import ADAPTER

__all__ = ["FOLLOWS", "INSTALLED", "MODELS", "install_replica_id", "made_up_context",
           "replica_id", "write_again"]



def _reduce_dvv(s: DVVSet[Any]) -> tuple[Any, ...]:
    return (DVVSet, (s.entries, s.anonymous))


def _reduce_vv(s: VVSiblings[Any]) -> tuple[Any, ...]:
    return (VVSiblings, (s.clock, s.siblings))


# The explorer copies states by pickling; the sibling stores refuse attribute writes,
# which pickle's default for a class with __slots__ makes: rebuild them from their parts.
copyreg.pickle(DVVSet, _reduce_dvv)
copyreg.pickle(VVSiblings, _reduce_vv)

KEY = "k"
# anti-entropy at every tick (the explorer's tick stands for 10 ms): ``now`` is then
# never read, only whether a tick happened
OPTIONS = {"sync_interval_ms": 10}
IGNORE = frozenset({"VkvCore.now", "VkvCore.writes", "VkvCore.merges",
                    "VkvCore.sync_ticks"})


def replica_id(node: str) -> str:
    """The id node ``node`` counts its writes under in the explorer (its randomness is
    ``FixedRandom``: every disk of ``node`` draws the same id)."""
    return f"{node}~{FixedRandom().getrandbits(32):08x}"


def install_replica_id(ctx: NodeContext) -> None:
    """Put ``replica_id(node)`` on an empty disk, as a node's first write would (the
    versioned KV's log, also Dynamo's: ``protocols.dynamo.explore`` uses it too)."""
    if not ctx.fs.exists(f"{ctx.data_dir}/vkv.wal"):
        storage = VkvStorage(ctx.fs, ctx.data_dir, SyncPolicy.ALWAYS)
        storage.save([ReplicaIdRecord(replica_id(ctx.node_id))])
        storage.close()


class Installed(VkvSpec):
    """The versioned KV on disks that already hold their replica's id (the first record a
    replica writes on an empty disk): a reachable state of ``protocols.vkv:SPEC`` without
    each replica's first write; the cores, storage and rules are ``SPEC``'s."""

    def create_node(self, ctx: NodeContext) -> NodeParts:
        install_replica_id(ctx)
        return super().create_node(ctx)


INSTALLED = Installed()

BOB = Put(KEY, "bob", {})
ALICE = Put(KEY, "alice", {})
ALICE_AGAIN = Put(KEY, "alice again", {replica_id("n1"): 2})  # what ALICE's answer showed
MALLORY = Put(KEY, "mallory", {replica_id("n1"): 1000})  # no read ever showed that
FOLLOWS = {ALICE_AGAIN.value: ALICE.value}  # writes with the context of that one's answer


# ---------------------------------------------------------------- what clients saw
def _outcomes(system: System) -> tuple[dict[int, int], dict[int, Event]]:
    """Where each command was invoked in the history, and each one's ok answer."""
    invoked = {e.process: i for i, e in enumerate(system.history.events)
               if e.type == "invoke"}
    ok = {e.process: e for e in system.history.events if e.type == "ok"}
    return invoked, ok


def _read(system: System, i: int) -> frozenset[str] | None:
    """What command ``i``'s client had read when it wrote: nothing (a blind write, or a
    made-up context), or the values of the answer it follows. None: it went out before
    that answer, with a context the client was never shown (outside the model)."""
    commands = system.adapter.commands
    command = commands[i]
    follows = FOLLOWS.get(command.value)
    if follows is None:
        return frozenset()
    j = next(j for j, c in enumerate(commands) if c.value == follows)
    invoked, ok = _outcomes(system)
    answer = ok.get(j)
    if answer is None or system.history.events.index(answer) > invoked[i] or \
            answer.value[1] != dict(command.context):
        return None
    return frozenset(answer.value[0])


def _writes(system: System) -> tuple[list[Write], list[tuple[Write, str, int]]] | None:
    """Every write tried, and the acknowledged ones with the dot each was written under
    (its replica's id and count); None if a follow-up is outside the model."""
    invoked, ok = _outcomes(system)
    tried: list[Write] = []
    acked: list[tuple[Write, str, int]] = []
    for i in sorted(invoked):
        command = system.adapter.commands[i]
        read = _read(system, i)
        if read is None:
            return None
        write = (command.key, command.value, read)
        tried.append(write)
        if i in ok:
            rid = next(r for r in ok[i].value[1] if member_of(r) == system.submitted[i])
            acked.append((write, rid, ok[i].value[1][rid]))
    return tried, acked


def in_model(system: System) -> bool:
    """No follow-up went out before the answer it follows (``ExploreAdapter.within``:
    a state where one did is checked, and not expanded)."""
    invoked, _ = _outcomes(system)
    return all(_read(system, i) is not None for i in invoked)


def _observed(system: System) -> set[tuple[str, str]]:
    """Every value an answer showed a client."""
    _, ok = _outcomes(system)
    return {(system.adapter.commands[i].key, v) for i, e in ok.items() for v in e.value[0]}


def _stores(system: System) -> Mapping[str, VkvCore]:
    return {n: node.core for n, node in system.nodes.items()
            if node.up and isinstance(node.core, VkvCore)}


# ---------------------------------------------------------------- the properties
def no_lost_write(system: System) -> str | None:
    writes = _writes(system)
    if writes is None:
        return None
    tried, acked = writes
    observed = _observed(system)
    for n, core in sorted(_stores(system).items()):
        for key, s in sorted(core.store.items()):
            seen = s.context()
            known = [w for w, rid, count in acked if w[0] == key and seen[rid] >= count]
            lost = lost_writes(known, tried, {key: s.values()}, observed)
            if lost:
                return f"at {n}: {lost[0]}"
    return None


def replaces_what_it_read(system: System) -> str | None:
    """A replica that holds a write's value holds none of the values its client read
    (the write's context covered them: they were replaced where it was applied, and
    wherever it goes its dot's entry says so)."""
    writes = _writes(system)
    if writes is None:
        return None
    for n, core in sorted(_stores(system).items()):
        for key, value, read in writes[0]:
            s = core.store.get(key)
            held = s.values() if s is not None else []
            kept = sorted(read & set(held))
            if value in held and kept:
                return f"{n} holds {value!r} and {kept}, which its client had read"
    return None


def siblings(system: System) -> bool:
    """Some replica holds two values of one key: concurrent writes both survived."""
    return any(s.size() > 1 for core in _stores(system).values() for s in core.store.values())


def resolved(system: System) -> bool:
    """A write over two siblings its client read was acknowledged."""
    _, ok = _outcomes(system)
    return any(len(_read(system, i) or ()) > 1 for i in ok)


def refused(system: System) -> bool:
    """A write was refused (its context claimed what this replica never saw)."""
    return any(e.type == "fail" for e in system.history.events)


def everywhere(system: System) -> bool:
    """An acknowledged value is held by every replica."""
    _, ok = _outcomes(system)
    stores = _stores(system)
    acked = [system.adapter.commands[i] for i in ok]
    return len(stores) == len(system.ids) and any(
        all(c.key in core.store and c.value in core.store[c.key].values()
            for core in stores.values()) for c in acked)


SAFETY = (
    Always("no acknowledged write is lost", no_lost_write),
    Always("a write replaces what its client read", replaces_what_it_read),
)


# ---------------------------------------------------------------- the models
def _describe(command: Any) -> tuple[str, Any, Any]:
    return ("put", command.key, command.value)


def _model(name: str, summary: str, spec: ProtocolSpec, bounds: Bounds,
           commands: Sequence[Put], targets: Sequence[Sequence[str]],
           reachable: Sequence[Sometimes]) -> ExploreAdapter:
    return ExploreAdapter(
        name, spec, nodes=3, options=OPTIONS, bounds=bounds, commands=tuple(commands),
        targets=tuple(targets), properties=(*SAFETY, *reachable), ignore=IGNORE, sim=ADAPTER,
        summary=summary, describe_command=_describe, within=in_model)


SMALL = Bounds(ticks=0, crashes=1, torn=True)
# a digest nobody answers changes nothing at its sender (no on_send_failed): no timeouts
FULL = Bounds(ticks=1, crashes=1, torn=True, timeouts=False)


def write_again(size: str = "small") -> ExploreAdapter:
    """Bob and Alice write blind at n1, Alice writes again with her answer's context
    (#31 bug 3). "small": no anti-entropy (a second to find the bug, a minute to prove
    it gone); "full": one anti-entropy round each."""
    return _model("write-again", "3 installed replicas; Bob, then Alice twice, at n1; one "
                  "crash that may tear a write", INSTALLED, SMALL if size == "small" else
                  FULL, (BOB, ALICE, ALICE_AGAIN), (("n1",),) * 3,
                  (Sometimes("concurrent writes become siblings", siblings),
                   Sometimes("a write over siblings it read is acknowledged", resolved)))


def made_up_context(size: str = "small") -> ExploreAdapter:
    """Bob writes at n1, Mallory at n2 with a context claiming a thousand of n1's
    writes (#31 bug 4). "small": no anti-entropy; "full": one round each."""
    return _model("made-up-context", "3 installed replicas; Bob at n1, Mallory at n2; one "
                  "crash that may tear a write", INSTALLED, SMALL if size == "small" else
                  FULL, (BOB, MALLORY), (("n1",), ("n2",)),
                  (Sometimes("a made-up context is refused", refused),
                   Sometimes("an acknowledged write reaches every replica", everywhere)))


MODELS = {"write-again": write_again, "made-up-context": made_up_context}
