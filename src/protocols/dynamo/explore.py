"""The Dynamo store as models for the explorer (``protocols.explore``, issue #35).

3 nodes on a static ring (``membership="static"``: SWIM's periodic probes would swamp
the state space), N = 2 so that each key has a stand-in (the third node, past its top
N: DeCandia et al., "Dynamo", SOSP 2007, §4.6), two keys, every order of messages, one
lost message, timeouts, one power cut that may tear the write under way, and timers as
short as the options allow (a tick of the explorer stands for 10 ms: a node that failed
a request is skipped until its next tick, and hinted handoff runs at every tick; a
node's timer is a move only while it holds a hint or skips a peer). The replicas start
on disks that hold their ids (``Installed``, as ``protocols.vkv.explore``'s).

The ring (one virtual node each, §4.2's basic scheme: what matters here is the
preference lists): key ``a`` is owned by n1 and n2 (stand-in n3), key ``b`` by n3 and n1
(stand-in n2). The clients (across the models below):

* Ann writes ``a`` blind at n1 with W = 1 (acknowledged once on n1's disk);
* Ann writes ``a`` again at n1 with W = 2 and the context her first write's answer
  showed her (``FOLLOWS``): she replaces her own value, and only what she read. If n1
  saw its ``ReplicaPut`` to n2 time out, n2 is skipped and n3 stands in with a hint
  (§4.6): the write is acknowledged by the stand-in, which hands it to n2 at its tick;
* Bob writes ``a`` blind at n2 with W = 1: concurrent with Ann's, siblings (§4.4);
* Carol writes ``b`` blind at n2 with W = 2: n2 owns no ``b``, so it forwards the write
  to n3, the first owner it holds healthy (§4.5).

A follow-up is the client's only when the answer it follows came first with that very
context; a state where it went out before is outside the model (``in_model``: checked,
not expanded), as in ``protocols.vkv.explore``.

Properties, checked in every state; "holds a write" means a version (a key's own, or a
hinted one, §4.6) whose causal context covers the write's dot, and "durably" means on
the node's disk, read back as recovery reads it (a node that is down counts by its disk):

* **no acknowledged write is lost** (§4.4, §4.6): every version anywhere (in a node's
  memory or on its disk) that holds an acknowledged write has its value, unless a write
  whose client had read it replaced it (``protocols.check.vkv.lost_writes``, as for the
  versioned KV); and an acknowledged value that no version holds any more was replaced
  so;
* **an acknowledged write is durable at W nodes** (§4.5 "if at least W-1 nodes respond
  then the write is considered successful", the coordinator's own write among them): at
  least W nodes hold it durably, from its answer on — a hint is dropped only once its
  owner acknowledged the version durably, so the count never falls;
* **a write acknowledged by W = N replicas is kept for each owner** (§4.6: the stand-in
  "will attempt to deliver the replica to A"): each of the key's N owners holds it
  durably, or a stand-in does, in a hint naming that owner.

Sometimes (the model reaches what it is for): a write acknowledged with W = 2; a stand-in
holding a hinted version; a hinted version handed off to its owner; concurrent writes as
siblings; a write over what its client read acknowledged; a crash; anti-entropy bringing
a lost replica write to its owner. The final states of a path are not judged further
(no "every owner holds every acknowledged write at the end"): with a lost message and
W = 1, only anti-entropy or a read carries a write to its second owner, and each node
ticks once here, so an exchange that loses a message is not retried.

Models (each complete at the bounds below; ``scripts/check-models dynamo`` runs all five
in about 70 s on the 2-core machine):

* ``dynamo``: Ann and Bob on ``a``, blind (siblings); one crash of any node tearing a
  write of n1, one lost message, timeouts, 4 messages in flight: 25 455 states, 8 873
  unique, depth 13;
* ``forward``: Carol on ``b``, forwarded; the same faults, tearing n3's writes: 2 480
  states, 1 034 unique, depth 11;
* ``handoff``: Ann's two writes; timeouts only (a hint and its handoff): 1 101 states,
  471 unique, depth 11;
* ``handoff-faults``: Ann's two writes under ``dynamo``'s faults: 23 991 states, 7 991
  unique, depth 15;
* ``dynamo-aae``: Ann, W = 1, Merkle anti-entropy every tick; one lost message, no
  timeout: 31 648 states, 10 036 unique, depth 24.

The four writes in one model, or any three of them with the faults, do not finish
(past 80 000 unique states at depth 11): the keys' and clients' activities interleave
as a product, and timeouts (any request may time out at any point) multiply it most.
The default suite walks the first states of ``dynamo`` and ``handoff``, and the planted
bugs; ``--run-slow`` runs every model whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from protocols.check.history import Event
from protocols.check.vkv import Write, lost_writes
from protocols.clocks import DVVSet
from protocols.common.wal import SyncPolicy
from protocols.contract import NodeContext, NodeParts, ProtocolSpec
from protocols.dynamo import DynamoSpec
from protocols.dynamo.core import DynamoCore, Put
from protocols.dynamo.sim import ADAPTER
from protocols.dynamo.storage import DynamoStorage
from protocols.explore import Always, Bounds, ExploreAdapter, Sometimes, System
from protocols.sim.disk import SimFile, SimFileSystem
from protocols.vkv.core import Clock

# vkv's explore module also teaches pickle to copy the sibling stores (copyreg), which
# the explorer needs to fork states holding them
from protocols.vkv.explore import install_replica_id, replica_id
from protocols.vkv.state import State, decode

__all__ = ["FOLLOWS", "INSTALLED", "MODELS", "OPTIONS", "Installed", "dynamo",
           "replica_id"]


N = 2
# static ring, no anti-entropy; a tick (10 ms) is a replica's deadline, the memory of a
# failed request and the handoff interval: ``now`` counts ticks, and one tick ends a
# skip
OPTIONS: dict[str, Any] = {
    "membership": "static", "anti_entropy": "off", "n": N, "r": 1, "w": 1, "vnodes": 1,
    "replica_timeout_ms": 10, "failure_memory_ms": 10, "handoff_interval_ms": 10}
AAE_OPTIONS = {**OPTIONS, "anti_entropy": "merkle", "aae_interval_ms": 10,
               "aae_depth": 1, "aae_fanout": 2}
# not state: counters for status, and what every node has alike from its options (the
# ring is the configured nodes', the same on every node and in every state)
IGNORE = frozenset({
    "DynamoCore.writes", "DynamoCore.merges", "DynamoCore.stats", "DynamoCore.aae",
    "DynamoCore.options", "DynamoCore.peers", "DynamoCore.members", "DynamoCore.kind",
    "DynamoCore.sync_ticks", "DynamoCore.handoff_ticks", "DynamoCore.aae_ticks",
    "DynamoCore.lww", "Membership.ring", "Membership.configured", "Membership.nodes",
    "Membership.memory_ticks", "Membership.node_id"})


class Installed(DynamoSpec):
    """Dynamo on disks that already hold their replica's id (the first record a node
    writes on an empty disk): a reachable state of ``protocols.dynamo:SPEC`` without each
    node's first write; the cores, storage and rules are ``SPEC``'s."""

    def create_node(self, ctx: NodeContext) -> NodeParts:
        install_replica_id(ctx)
        return super().create_node(ctx)


INSTALLED = Installed()

A, B = "a", "b"
OWNERS = {A: ("n1", "n2"), B: ("n3", "n1")}  # the top N of each key's preference list
ANN = Put(A, "ann", {}, w=1)
ANN_AGAIN = Put(A, "ann again", {replica_id("n1"): 1}, w=2)  # what ANN's answer showed
BOB = Put(A, "bob", {}, w=1)
CAROL = Put(B, "carol", {}, w=2)
FOLLOWS = {ANN_AGAIN.value: ANN.value}  # writes with the context of that one's answer


# ---------------------------------------------------------------- what clients saw
def _outcomes(system: System) -> tuple[dict[int, int], dict[int, Event]]:
    """Where each command was invoked in the history, and each one's ok answer."""
    invoked = {e.process: i for i, e in enumerate(system.history.events)
               if e.type == "invoke"}
    ok = {e.process: e for e in system.history.events if e.type == "ok"}
    return invoked, ok


def _read(system: System, i: int) -> frozenset[str] | None:
    """What command ``i``'s client had read when it wrote: nothing (a blind write), or
    the values of the answer it follows. None: it went out before that answer, or with a
    context that answer did not show (outside the model)."""
    commands = system.adapter.commands
    follows = FOLLOWS.get(commands[i].value)
    if follows is None:
        return frozenset()
    j = next(j for j, c in enumerate(commands) if c.value == follows)
    invoked, ok = _outcomes(system)
    answer = ok.get(j)
    if answer is None or system.history.events.index(answer) > invoked[i] or \
            answer.value[1] != dict(commands[i].context):
        return None
    return frozenset(answer.value[0])


def in_model(system: System) -> bool:
    """No follow-up went out before the answer it follows (``ExploreAdapter.within``)."""
    invoked, _ = _outcomes(system)
    return all(_read(system, i) is not None for i in invoked)


def _writes(system: System) -> tuple[list[Write], list[tuple[Write, int]]] | None:
    """Every write tried, and the acknowledged ones with their W; None if a follow-up is
    outside the model."""
    invoked, ok = _outcomes(system)
    tried: list[Write] = []
    acked: list[tuple[Write, int]] = []
    for i in sorted(invoked):
        command = system.adapter.commands[i]
        read = _read(system, i)
        if read is None:
            return None
        write = (command.key, command.value, read)
        tried.append(write)
        if i in ok:
            acked.append((write, command.w))
    return tried, acked


def _observed(system: System) -> set[tuple[str, str]]:
    """Every value an answer showed a client."""
    _, ok = _outcomes(system)
    return {(system.adapter.commands[i].key, v) for i, e in ok.items() for v in e.value[0]}


# ---------------------------------------------------------------- what nodes hold
Versions = dict[tuple[str, str], State]  # (key, the owner a hint names or "") -> version
_DISKS: dict[tuple[str, tuple[tuple[str, bytes], ...]], Versions] = {}


def durable(system: System, n: str) -> Versions:
    """Node ``n``'s versions as a restart would read them from its disk (memoized by the
    disk's durable bytes: few distinct disks occur)."""
    node = system.nodes[n]  # type: ignore[index]
    files = tuple(sorted((p, bytes(f.durable)) for p, f in node.fs.files.items()))
    found = _DISKS.get((n, files))
    if found is None:
        fs = SimFileSystem()
        fs.files = {p: SimFile(bytearray(b)) for p, b in files}
        storage = DynamoStorage(fs, f"/data/{n}", n, SyncPolicy.ALWAYS)
        found = {}
        for stored, raw in storage.latest.items():
            if stored.startswith("\x00"):
                owner, _, key = stored[1:].partition("\x00")
                found[(key, owner)] = decode(raw, Clock.DVV)
            else:
                found[(stored, "")] = decode(raw, Clock.DVV)
        storage.close()
        _DISKS[(n, files)] = found
    return found


def in_memory(core: DynamoCore) -> Versions:
    out: Versions = {(k, ""): s for k, s in core.store.items()}
    for k, held in core.hinted.items():
        out.update({(k, owner): s for owner, s in held.items()})
    return out


def _cores(system: System) -> dict[str, DynamoCore]:
    return {n: node.core for n, node in system.nodes.items()
            if node.up and isinstance(node.core, DynamoCore)}


class _View:
    """What the properties read of one state, computed once for all of them."""

    def __init__(self, system: System) -> None:
        self.writes = _writes(system)
        self.observed = _observed(system)
        self.disks = {n: durable(system, n) for n in system.ids}
        self.versions: list[tuple[str, str, tuple[str, str], State]] = []
        for n, core in sorted(_cores(system).items()):
            self.versions += [(n, "memory", w, s) for w, s in sorted(in_memory(core).items())]
        for n in system.ids:
            self.versions += [(n, "disk", w, s) for w, s in sorted(self.disks[n].items())]
        self.dots: dict[tuple[str, str], tuple[str, int]] = {}
        for _, _, (key, _), s in self.versions:
            if isinstance(s, DVVSet):
                for e in s.entries:
                    for i, v in enumerate(e.values):
                        self.dots.setdefault((key, v), (e.node, e.counter - i))

    def durable_holders(self, key: str, dot: tuple[str, int]) -> dict[str, set[str]]:
        """node -> the hints ("" for its own version) under which it durably holds
        ``dot``."""
        out: dict[str, set[str]] = {}
        for n, versions in self.disks.items():
            for (k, hint), s in versions.items():
                if k == key and _covers(s, dot):
                    out.setdefault(n, set()).add(hint)
        return out


_LAST: list[Any] = [None, None, None]  # (the state, its depth, its view)


def _view(system: System) -> _View:
    """The view of ``system`` (the properties of one state are checked one after the
    other: the last state's view is kept)."""
    if _LAST[0] is not system or _LAST[1] != (system.depth, len(system.history.events)):
        _LAST[:] = [system, (system.depth, len(system.history.events)), _View(system)]
    view: _View = _LAST[2]
    return view


def dot_of(s: State, value: str) -> tuple[str, int] | None:
    """The dot (replica id, count) ``value`` was written under, if ``s`` holds it."""
    if not isinstance(s, DVVSet):
        return None
    for e in s.entries:
        for i, v in enumerate(e.values):
            if v == value:
                return (e.node, e.counter - i)
    return None


def _covers(s: State, dot: tuple[str, int]) -> bool:
    return s.context()[dot[0]] >= dot[1]


# ---------------------------------------------------------------- the properties
def no_lost_write(system: System) -> str | None:
    view = _view(system)
    if view.writes is None:
        return None
    tried, acked = view.writes
    dots = view.dots
    for n, where, (key, hint), s in view.versions:
        known = [w for w, _ in acked if w[0] == key and (w[0], w[1]) in dots and
                 _covers(s, dots[(w[0], w[1])])]
        lost = lost_writes(known, tried, {key: s.values()}, view.observed)
        if lost:
            held = f"hinted for {hint}" if hint else "its own"
            return f"{n} ({where}, {held}): {lost[0]}"
    seen = set(dots) | view.observed | {(w[0], w[1]) for w, _ in acked}
    replaced = {(k, r) for k, v, read in tried if (k, v) in seen for r in read}
    for (key, value, _), _ in acked:
        if (key, value) not in dots and (key, value) not in replaced:
            return f"{key}: acknowledged {value!r} is held by no node, and no write that " \
                   f"saw it replaced it"
    return None


def durable_at_w(system: System) -> str | None:
    view = _view(system)
    if view.writes is None:
        return None
    for (key, value, _), w in view.writes[1]:
        dot = view.dots.get((key, value))
        if dot is None:
            continue  # replaced by a write that read it (no_lost_write says so)
        holders = view.durable_holders(key, dot)
        if len(holders) < w:
            return f"{key}: {value!r} acknowledged with W={w} is on the disk of " \
                   f"{sorted(holders) or 'no node'} only"
    return None


def kept_for_each_owner(system: System) -> str | None:
    view = _view(system)
    if view.writes is None:
        return None
    for (key, value, _), w in view.writes[1]:
        dot = view.dots.get((key, value))
        if dot is None or w < N:
            continue
        holders = view.durable_holders(key, dot)
        for owner in OWNERS[key]:
            if "" in holders.get(owner, set()):
                continue
            if any(owner in hints for hints in holders.values()):
                continue
            return f"{key}: {value!r} acknowledged with W={w}: neither its owner {owner} " \
                   f"nor a stand-in for it holds it durably (held by {holders})"
    return None


SAFETY = (
    Always("no acknowledged write is lost", no_lost_write),
    Always("an acknowledged write is durable at W nodes", durable_at_w),
    Always("a write acknowledged by W = N is kept for each owner", kept_for_each_owner),
)


def acked_w2(system: System) -> bool:
    """A write with W = 2 is acknowledged."""
    _, ok = _outcomes(system)
    return any(system.adapter.commands[i].w == 2 for i in ok)


def hinted(system: System) -> bool:
    """A stand-in holds a version hinted for another node (§4.6)."""
    return any(core.hinted for core in _cores(system).values())


def handed_off(system: System) -> bool:
    """A stand-in handed a hinted version to its owner, which acknowledged it (§4.6)."""
    return any(core.stats["handed_off"] for core in _cores(system).values())


def siblings(system: System) -> bool:
    """Some node holds two values of one key: concurrent writes both survived."""
    return any(s.size() > 1 for core in _cores(system).values() for s in core.store.values())


def resolved(system: System) -> bool:
    """A write over what its client read is acknowledged."""
    _, ok = _outcomes(system)
    return any(_read(system, i) for i in ok)


def crashed(system: System) -> bool:
    """A node lost power."""
    return system.crashes > 0


def armed(system: System, n: str) -> bool:
    """A node's timer does something only while it holds a hint, owes a key, or skips
    a peer (a tick ends a skip); with anti-entropy on, always."""
    core = system.nodes[n].core  # type: ignore[index]
    if not isinstance(core, DynamoCore):
        return False
    if core.options.anti_entropy != "off":
        return True
    return bool(core.hinted or core.moving or core.transfers or any(
        core.now - t < core.view.memory_ticks for t in core.view.failed_at.values()))


# ---------------------------------------------------------------- the models
def _describe(command: Any) -> tuple[str, Any, Any]:
    return ("put", command.key, command.value)


# the bounds: one crash (which may tear a write of n1, the coordinator of Ann's
# writes; the others' writes reach their disk with the input that made them), one lost
# message, a timer each
SMALL = Bounds(ticks=1, crashes=1, torn=True, drops=1, in_flight=4, persist_moves_at=("n1",))
# no fault but timeouts (a request's deadline may pass at any point)
CALM = Bounds(ticks=1, crashes=0, drops=0, in_flight=6, persist_moves=False)

REACHED = (Sometimes("a write with W = 2 is acknowledged", acked_w2),
           Sometimes("a stand-in holds a hinted version", hinted),
           Sometimes("a hinted version is handed off", handed_off))


def _model(name: str, summary: str, spec: ProtocolSpec, options: Mapping[str, Any],
           bounds: Bounds, commands: Sequence[Put], targets: Sequence[Sequence[str]],
           reachable: Sequence[Sometimes]) -> ExploreAdapter:
    return ExploreAdapter(
        name, spec, nodes=3, options=options, bounds=bounds, commands=tuple(commands),
        targets=tuple(targets), properties=(*SAFETY, *reachable), ignore=IGNORE,
        sim=ADAPTER, summary=summary, describe_command=_describe, within=in_model,
        armed=armed)


def dynamo(size: str = "small", spec: ProtocolSpec = INSTALLED) -> ExploreAdapter:
    """Ann at n1 (W = 1) and Bob at n2 (W = 1), both blind on key ``a``: concurrent
    writes, siblings (§4.4); one crash of any node that may tear a write of n1 (the
    coordinator of Ann's write and the replica of Bob's), one lost message, timeouts,
    a tick each, at most 4 messages in flight. Complete: about 25 000 states (8 900
    unique, depth 13) in about 25 s. Ann's follow-up with her answer's context and the
    hint it leads to are ``handoff-faults``'s; Carol's forwarded write to key ``b`` is
    ``forward``'s: the four writes in one model (the issue's first cut) do not finish
    (every pair of them, with the faults, is about 8 000 unique states; any three
    together are past 80 000 and growing at depth 11). ``size`` changes nothing.
    ``spec``: another build of the nodes (a test plants a bug in it)."""
    return _model(
        "dynamo", "3 nodes, N=2, key a (n1, n2); Ann at n1 and Bob at n2, both W=1 "
        "blind (siblings); one crash that may tear a write of n1, one lost message, "
        "timeouts, 4 messages in flight at most",
        spec, OPTIONS, SMALL, (ANN, BOB), (("n1",), ("n2",)),
        (Sometimes("concurrent writes become siblings", siblings),
         Sometimes("a node crashed", crashed)))


def forward(size: str = "small", spec: ProtocolSpec = INSTALLED) -> ExploreAdapter:
    """Carol writes key ``b`` at n2 with W = 2: n2 owns no ``b`` and forwards it to n3
    (§4.5), which replicates it to n1; one crash of any node that may tear a write of
    n3, one lost message, timeouts. Complete: about 2 500 states (1 000 unique)."""
    return _model(
        "forward", "3 nodes, N=2, key b (n3, n1); Carol at n2 (W=2, forwarded to n3); "
        "one crash that may tear a write of n3, one lost message, timeouts",
        spec, OPTIONS, dataclasses.replace(SMALL, persist_moves_at=("n3",)),
        (CAROL,), (("n2",),),
        (Sometimes("a write with W = 2 is acknowledged", acked_w2),
         Sometimes("a node crashed", crashed)))


def handoff(size: str = "small", spec: ProtocolSpec = INSTALLED) -> ExploreAdapter:
    """Ann's two writes at n1, no fault but timeouts: n1's replica write to n2 times out,
    n2 is skipped, n3 stands in with a hint and hands it to n2 at its tick (§4.6).
    "small": a tick each; "full": two."""
    bounds = CALM if size == "small" else dataclasses.replace(CALM, ticks=2)
    return _model(
        "handoff", "3 nodes, N=2, key a (n1, n2); Ann at n1 (W=1, then W=2 with her "
        "answer's context); timeouts, no crash, no lost message", spec, OPTIONS, bounds,
        (ANN, ANN_AGAIN), (("n1",), ("n1",)),
        (*REACHED, Sometimes("a write over what its client read is acknowledged",
                             resolved)))


def handoff_faults(size: str = "small", spec: ProtocolSpec = INSTALLED) -> ExploreAdapter:
    """``handoff`` with the issue's faults: one crash of any node that may tear a write
    of n1, one lost message, timeouts, 4 messages in flight at most. Complete: about
    24 000 states (8 000 unique, depth 15) in about 25 s. ``size`` changes nothing."""
    return _model(
        "handoff-faults", "3 nodes, N=2, key a (n1, n2); Ann at n1 (W=1, then W=2 with "
        "her answer's context); one crash that may tear a write of n1, one lost message, "
        "timeouts", spec, OPTIONS, SMALL, (ANN, ANN_AGAIN), (("n1",), ("n1",)),
        (*REACHED, Sometimes("a write over what its client read is acknowledged",
                             resolved), Sometimes("a node crashed", crashed)))


def repaired_by_anti_entropy(system: System) -> bool:
    """n2 holds key ``a`` and some node's anti-entropy repaired a key (§4.7)."""
    cores = _cores(system)
    return "n2" in cores and A in cores["n2"].store and any(
        c.aae["keys_repaired"] > 0 for c in cores.values())


# anti-entropy's model: the replica write to n2 may be lost, and no request times out
# (a timeout skips n2 and sends the write to a stand-in instead: handoff's model)
LOSSY = dataclasses.replace(CALM, drops=1, timeouts=False, in_flight=4)


def dynamo_aae(size: str = "small", spec: ProtocolSpec = INSTALLED) -> ExploreAdapter:
    """Ann at n1 (W = 1) with Merkle anti-entropy on (an exchange at every tick, a tree
    of 2 segments): one lost message (Ann's replica write to n2, or any message of an
    exchange), no timeout, a tick each. Anti-entropy brings the write to n2 when the
    replica write was lost, and nothing acknowledged is lost on any path. Complete:
    about 31 600 states (10 000 unique, depth 24) in about 30 s. The exchange's counters
    are state here (``aae`` is not ignored) so that the repair is seen as reached."""
    return dataclasses.replace(_model(
        "dynamo-aae", "3 nodes, N=2, key a (n1, n2), Merkle anti-entropy every tick; Ann "
        "at n1 (W=1); one lost message, no timeout",
        spec, AAE_OPTIONS, LOSSY, (ANN,), (("n1",),),
        (Sometimes("anti-entropy brings Ann's write to n2", repaired_by_anti_entropy),)),
        ignore=IGNORE - {"DynamoCore.aae"})


MODELS = {"dynamo": dynamo, "forward": forward, "handoff": handoff,
          "handoff-faults": handoff_faults, "dynamo-aae": dynamo_aae}
