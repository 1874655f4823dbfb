"""Dynamo's coordinator and replica, sans-IO (DeCandia et al., "Dynamo: Amazon's Highly
Available Key-value Store", SOSP 2007).

Every node is both (§4.5). A key's replicas are its *preference list*: the first N
distinct nodes clockwise of the key on the consistent-hashing ring with virtual nodes
(§4.2-4.3, ``protocols.hashing.Ring``). A client's ``Put`` or ``Get`` goes to any node;
a node that is not among the key's top N forwards it to the first of them that it
believes healthy (§4.5: ``Forward``), which *coordinates* it:

* **put** (§4.4-4.5): the coordinator makes the new version itself, under its replica
  id, over the context the client read (the sibling store and the rules on contexts are
  the versioned KV's, ``protocols.vkv``: a write covers exactly the siblings its context
  names, everything else stays a sibling), writes it to its own disk and sends it to
  the other N-1 nodes it picked (``ReplicaPut``). It answers after W acks, its own
  write among them: the key's siblings and context as the write left them.
* **get** (§4.5): the coordinator asks the others (``ReplicaGet``) and syncs every
  version that comes back into its own; after R replies, its own among them, it answers
  the key's siblings and their context (one causal context covering them all: a write
  with it resolves them, §4.4's "syntactic reconciliation" done by the client).
* **quorum** (§4.5): N, R and W come from the options, and a request may ask for its
  own R or W. R + W > N makes every read quorum meet every write quorum *of the same N
  nodes*, so a read sees the last acknowledged write; R = W = 1 is fast and may read a
  stale version (``tests/dynamo/sim/test_scenarios.py`` shows both).
* **sloppy quorum** (§4.6): the N nodes written and read are the first N *healthy*
  nodes of the preference list, not always its top N. A node that failed a request (its
  reply did not come by the deadline) is skipped for ``failure_memory_ms``; the node
  that stands in for it is the next one on the ring, and a put to a stand-in carries a
  *hint* naming the owner it replaced. The stand-in keeps hinted versions apart (its
  ``hinted`` store, persisted under their own keys), answers gets with them, and never
  counts them among its own keys.
* **unavailable**: when fewer than W acks (R replies) can still come, the coordinator
  answers ``Unavailable``; for a put the outcome is unknown (the version is on the
  coordinator's disk and maybe on others).
* **read repair** (§5, "read repair"): once every replica of a get has answered or
  failed, those that answered with less than the merged version get it (a
  ``ReplicaPut``, with the same hint as before for a stand-in).

The coordinator of a write is always an owner of the key and writes to its own disk
before it answers, so every acknowledged write is durable at one of the key's top N.

Around the coordinator, what keeps the replicas whole:

* **membership** (§4.8, ``membership.py``): SWIM, run inside the node, says who is on
  the ring and who is healthy; a join or a departure changes the preference lists.
* **hinted handoff** (§4.6): a stand-in delivers each hinted version to the owner it
  names once SWIM holds that owner alive, and drops it once the owner acknowledged it
  (still the version it sent); an owner gone from the ring gets nothing, and the key's
  current owners get it instead.
* **rebalancing** (§4.9): when the ring changes, only the keys whose top N changed
  move: each holder streams them to their new owners, a few per tick while reads and
  writes go on, and a holder no longer among a key's owners drops it once every owner
  acknowledged it. Any write that lands on a node outside the key's owners (a request
  routed on an older ring) is moved the same way.
* **anti-entropy** (§4.7, ``aae.py``): each node keeps, for each peer, a hash tree over
  the keys both own (``merkle``: Dynamo's; ``tictac``: Riak's, updated in O(depth) by
  XOR on every write); every ``aae_interval_ms`` it compares one peer's tree with its
  own, level by level, descending only where hashes differ, then pushes its version of
  each key that differs and pulls the peer's: replicas nobody reads converge too. A
  ring change rebuilds the trees (the cost the paper names).
* **contexts across coordinators**: a put's context may come from a read coordinated
  elsewhere and name writes this coordinator has not seen yet; it first reads the key
  from the replicas it writes to, and refuses the context only if it still names more
  than any of them has seen (vkv's rule, then: nothing happened).
* **last-write-wins** (``resolve="lww"``, ``lww.py``): each key one register, the later
  wall-clock timestamp wins: the contrast to siblings, which loses writes when clocks
  disagree (``clock_offset_ms`` sets a node's skew).

Reused, not copied: ``VkvCore`` (the subclass's base) holds the sibling store per key,
the replica id per disk incarnation (a wiped disk counts its writes under a new id),
the checks on contexts and on a peer's claims (``_check_context``, ``_merge``), and
``vkv.state`` encodes a key's state on the wire and on disk.
"""

from __future__ import annotations

import enum
import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.clocks import VectorClock
from protocols.common.errors import ConfigError, InvalidRequest, Unavailable
from protocols.common.ids import NodeId
from protocols.common.options import Options, option
from protocols.contract import Answer, Deferred, Envelope, NodeStatus, Ready, Reply, Rpc
from protocols.dynamo.aae import (
    MAX_SEGMENTS,
    AntiEntropyTree,
    Ask,
    Done,
    Exchange,
    MerkleTree,
    TictacTree,
    answer,
    item_hash,
)
from protocols.dynamo.aae import Answer as TreeAnswer
from protocols.dynamo.lww import LwwRegister, decode_lww, encode_lww
from protocols.dynamo.membership import Membership
from protocols.dynamo.messages import (
    AaeAnswer,
    AaeAsk,
    AaeSegment,
    Forward,
    Forwarded,
    ReplicaGet,
    ReplicaGetReply,
    ReplicaPut,
    ReplicaPutAck,
)
from protocols.swim import SPEC as SWIM_SPEC
from protocols.swim.commands import Leave, Members
from protocols.swim.core import SelfRecord, SwimCore
from protocols.swim.options import SwimOptions
from protocols.vkv.core import MAX_VALUE, Clock, KeyRecord, VkvCore, VkvOptions
from protocols.vkv.state import State, decode, empty, encode

__all__ = [
    "HINTED",
    "SWIM_MESSAGES",
    "DynamoCore",
    "DynamoOptions",
    "Get",
    "Ownership",
    "Put",
    "Resolve",
    "hinted_key",
    "split_hinted_key",
]

HINTED = "\x00"  # a hinted version's storage key: "\0owner\0key" (no client key starts so)
KIND = Clock.DVV  # dotted version vectors: one sibling per concurrent write
SWIM_MESSAGES = tuple(k for kind in SWIM_SPEC.messages.kinds
                      for k in ((kind.request, kind.reply) if isinstance(kind, Rpc)
                                else (kind.message,)))
_REPLICA_ID = re.compile(r"[^~\s]{1,64}~[0-9a-f]{8}")
# SWIM inside a Dynamo node: faster than SWIM's own defaults (a store wants to stop
# writing to a dead owner within a few seconds), and every configured node known from
# the start, so that every node places keys on the same ring at once
SWIM_DEFAULTS = {"probe_interval_ms": 500, "probe_timeout_ms": 200, "join": "all"}


class Resolve(enum.StrEnum):
    """What a key holds when writes are concurrent (§4.4)."""

    SIBLINGS = "siblings"  # every concurrent write, under dotted version vectors
    LWW = "lww"  # one register: the later wall-clock timestamp wins (lww.py)


class AntiEntropy(enum.StrEnum):
    """Which tree two replicas compare (§4.7, ``aae.py``)."""

    MERKLE = "merkle"  # Dynamo's: a leaf hashes its keys; rehashed when written
    TICTAC = "tictac"  # Riak's: a leaf XORs its keys' hashes; updated on every write
    OFF = "off"  # read repair and hinted handoff alone


class MembershipKind(enum.StrEnum):
    SWIM = "swim"  # who is on the ring and who is healthy: SWIM's view (membership.py)
    STATIC = "static"  # the configured nodes, and the local failure detector alone


def _swim_options(value: Any, members: tuple[str, ...]) -> SwimOptions:
    if not isinstance(value, Mapping):
        raise ValueError("SWIM's options, as a mapping of name to value")
    return SwimOptions.from_mapping({**SWIM_DEFAULTS, **value}, members)


@dataclass(frozen=True, slots=True)
class DynamoOptions(Options):
    protocol = "dynamo"

    n: int = option(3, "replicas of each key: the top N of its preference list (§4.3)",
                    min=1)
    r: int = option(2, "replies a get waits for, its coordinator's own among them (§4.5)",
                    min=1)
    w: int = option(2, "acks a put waits for, its coordinator's own among them (§4.5)",
                    min=1)
    vnodes: int = option(64, "virtual nodes per node on the ring (§4.2)", min=1)
    replica_timeout_ms: int = option(300, "how long a coordinator waits for a replica",
                                     min=1)
    failure_memory_ms: int = option(1000, "a node that failed a request is skipped for "
                                          "this long (sloppy quorum, §4.6)", min=0)
    handoff_interval_ms: int = option(250, "hinted handoff and rebalancing: stream "
                                           "versions to their owners this often", min=1)
    transfer_batch: int = option(128, "... at most this many keys at a time", min=1)
    anti_entropy: AntiEntropy = option(AntiEntropy.MERKLE, "the tree replicas compare "
                                       "(§4.7), or off")
    aae_interval_ms: int = option(2000, "compare trees with one peer this often", min=1)
    aae_depth: int = option(3, "levels below a tree's root", min=1)
    aae_fanout: int = option(16, "children of each node of a tree", min=2)
    membership: MembershipKind = option(MembershipKind.SWIM, "who is on the ring: SWIM's "
                                        "view, or the configured nodes")
    swim: SwimOptions = option(SwimOptions.from_mapping(SWIM_DEFAULTS),
                               "SWIM's options (protocols.swim), over "
                               "probe_interval_ms=500, probe_timeout_ms=200, join=all",
                               parse=_swim_options)
    resolve: Resolve = option(Resolve.SIBLINGS, "concurrent writes: siblings (dotted "
                              "version vectors), or last-write-wins by wall clock")
    clock_offset_ms: int = option(0, "lww: this node's wall clock runs this far ahead "
                                     "(negative: behind), a skew to experiment with")
    fsync: bool = option(True, "fsync every write (false: faster, and not durable)")

    def validate(self, members: tuple[str, ...]) -> None:
        if members and self.n > len(members):  # no members: parsed without a cluster
            raise ConfigError(f"dynamo n={self.n}: more replicas than the {len(members)} "
                              f"nodes of the cluster")
        if self.aae_fanout ** self.aae_depth > MAX_SEGMENTS:
            raise ConfigError(f"dynamo aae_fanout={self.aae_fanout}, aae_depth="
                              f"{self.aae_depth}: {self.aae_fanout ** self.aae_depth} "
                              f"segments, over the {MAX_SEGMENTS} a tree may have")
        for name, v in (("r", self.r), ("w", self.w)):
            if v > self.n:
                raise ConfigError(f"dynamo {name}={v}: a quorum of more than n={self.n} "
                                  f"replicas can never be reached")


@dataclass(frozen=True, slots=True)
class Put:
    """A client's write of ``value`` over what ``context`` (from a read) covers; ``w``
    acks (0: the option's)."""

    key: str
    value: str
    context: Mapping[str, int] = field(default_factory=dict)
    w: int = 0


@dataclass(frozen=True, slots=True)
class Get:
    """A client's read of ``key`` from ``r`` replicas (0: the option's)."""

    key: str
    r: int = 0


@dataclass(frozen=True, slots=True)
class Ownership:
    """Ask a node for its view of the ring: each node's share of the key space (as the
    first owner and as one of N) and what this node holds (answered at once)."""


def hinted_key(owner: str, key: str) -> str:
    return f"{HINTED}{owner}{HINTED}{key}"


def dropped_key(key: str) -> str:
    """Where the count of our writes of a key handed over is kept: ``"\0\0key"``."""
    return hinted_key("", key)


def split_hinted_key(stored: str) -> tuple[str, str]:
    owner, _, key = stored[1:].partition(HINTED)
    return owner, key


@dataclass(slots=True)
class _Op:
    """A request this node coordinates: who waits for it, and which replicas may still
    answer. A "preread" fetches the key before a put whose context names writes this
    node has not seen (``then`` is the put)."""

    kind: str  # "put" | "get" | "preread"
    key: str
    need: int  # W or R
    reply_to: tuple[str, Any]  # ("client", request_id) | ("forward", Deferred)
    hints: dict[str, str]  # node -> the owner it stands in for ("" for an owner)
    waiting: set[str]
    got: int = 1  # the coordinator's own write or read
    answered: bool = False
    replies: dict[str, bytes] = field(default_factory=dict)  # get: each replica's version
    then: Forward | None = None


@dataclass(slots=True)
class _Transfer:
    """A version on its way to an owner: handed back (a hint) or moved (rebalancing)."""

    why: str  # "handoff" | "move"
    key: str
    to: str
    sent: bytes
    owner: str = ""  # handoff: the owner the hint named


class DynamoCore(VkvCore):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], rng: random.Random,
                 options: DynamoOptions, recovered: Mapping[str, bytes], tick_s: float,
                 replica_id: str | None = None, *, swim_recovered: SelfRecord | None = None,
                 address: str = "", addresses: Mapping[NodeId, str] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.options = options
        self.lww = options.resolve == Resolve.LWW
        own = {k: v for k, v in recovered.items() if not k.startswith(HINTED)}
        super().__init__(node_id, peers, rng, VkvOptions(clock=KIND, fsync=options.fsync),
                         own, tick_s, replica_id)
        self.clock = clock or (lambda: 0.0)
        self.hinted: dict[str, dict[str, State]] = {}  # key -> owner -> its version
        self.dropped: dict[str, int] = {}  # key handed over -> the writes we had made
        for stored, raw in sorted(recovered.items()):
            if stored.startswith(HINTED):
                owner, key = split_hinted_key(stored)
                if owner:
                    self.hinted.setdefault(key, {})[owner] = self._decode(raw)
                else:
                    self.dropped[key] = int(raw)
        self.swim = None if options.membership == MembershipKind.STATIC else SwimCore(
            node_id, peers, random.Random(rng.getrandbits(64)), options.swim,
            swim_recovered, tick_s, address, addresses)
        memory = math.ceil(options.failure_memory_ms / 1000 / tick_s)
        self.view = Membership(node_id, self.members, options.vnodes, memory, self.swim)
        self.configured = frozenset(peers)  # the runner's peers, to see one removed
        self.handoff_ticks = max(1, round(options.handoff_interval_ms / 1000 / tick_s))
        self.ops: dict[int, _Op] = {}
        self.forwards: dict[int, tuple[str, Any]] = {}  # op -> who waits for it
        self.transfers: dict[int, _Transfer] = {}  # op -> a version on its way
        self.sending: set[tuple[str, str, str, str]] = set()  # (why, key, to, owner) of those
        self.moving: dict[str, set[str]] = {}  # key -> owners still to receive it
        self.next_op = 0
        self.aae_ticks = max(1, round(options.aae_interval_ms / 1000 / tick_s))
        self.trees: dict[str, AntiEntropyTree] = {}  # peer -> over the keys both own
        self.exchange: tuple[str, Exchange] | None = None  # the peer we compare with
        self.pulls: set[int] = set()  # ReplicaGets anti-entropy sent
        self.next_peer = 0
        self.aae = {"exchanges": 0, "rounds": 0, "tree_bytes": 0, "repair_bytes": 0,
                    "keys_repaired": 0}
        self.stats = {"coordinated": 0, "forwarded": 0, "unavailable": 0, "repairs": 0,
                      "hinted_writes": 0, "handed_off": 0, "moved": 0, "dropped": 0,
                      "prereads": 0, "ring_changes": 0}
        for key in sorted(self.store):  # a restart on a changed ring: move what is not ours
            self._place(key)

    # ------------------------------------------------------------------ versions
    def _decode(self, raw: bytes) -> Any:
        return decode_lww(raw) if self.lww else decode(raw, KIND)

    @staticmethod
    def _encode(s: Any) -> bytes:
        return encode_lww(s) if isinstance(s, LwwRegister) else encode(s)

    def _made(self, key: str) -> int:
        """Our writes of ``key``, counting those made before we handed it over: a state
        may claim them, and a new write must not reuse their dots."""
        return max(super()._made(key), self.dropped.get(key, 0))

    def _behind(self, key: str) -> bool:
        """We handed ``key`` over after writing it, and hold no state covering those
        writes: a new dot of ours could repeat one of them (and a DVV would take the two
        writes for one), so a put must first read the key from the replicas."""
        return key in self.dropped and super()._made(key) < self.dropped[key]

    def _check_ids(self, what: str, ids: Any) -> None:
        """Membership is open (nodes join and leave, and a version keeps naming a replica
        of a node long gone): a replica id must be well formed, ``node~8 hex digits``.
        The check that keeps versions apart is the claim rule on our own id
        (``VkvCore._merge``)."""
        bad = sorted(r for r in ids if not isinstance(r, str) or not _REPLICA_ID.fullmatch(r))
        if bad:
            raise InvalidRequest(f"{what}: names replica ids of the form node~8 hex digits "
                                 f"only, got {bad}")

    # ------------------------------------------------------------------ the ring
    def preference_list(self, key: str) -> list[str]:
        """Every node on the ring, in the key's order (§4.3); its top N own the key."""
        return self.view.ring.nodes_for(key, len(self.view.nodes))

    def owners(self, key: str) -> list[str]:
        return self.preference_list(key)[:self.options.n]

    def healthy(self, node: str) -> bool:
        return self.view.healthy(node, self.now)

    def targets(self, key: str) -> dict[str, str]:
        """§4.6 sloppy quorum: the first N healthy nodes of the preference list (topped
        up with unhealthy ones, in ring order, when fewer are healthy), each with the
        owner it stands in for: a skipped owner is replaced by the next healthy node
        past the top N; "" for an owner."""
        prefs, n = self.preference_list(key), self.options.n
        owners = prefs[:n]
        chosen = [p for p in prefs if self.healthy(p)][:n]
        chosen += [p for p in prefs if p not in chosen][:n - len(chosen)]
        skipped = [o for o in owners if o not in chosen]
        return {node: ("" if node in owners else skipped.pop(0))
                for node in sorted(chosen, key=prefs.index)}

    def _ring_changed(self) -> None:
        """SWIM (or the runner) changed who is on the ring: move the keys whose owners
        changed (§4.9)."""
        if self.view.wanted() in (self.view.nodes, frozenset()):
            return
        before = {key: self.owners(key) for key in self.store}
        self.view.sync()
        self.stats["ring_changes"] += 1
        self.trees.clear()  # who shares which keys changed: rebuilt when next used
        self.out.trace.append(f"ring: {','.join(sorted(self.view.nodes))}")
        for key in sorted(self.store):
            self._place(key, before[key])

    def _place(self, key: str, before: Sequence[str] = ()) -> None:
        """Owe ``key`` to those of its owners that may lack it, before a node that is not
        one drops it: the owners new to the key when it was one ``before`` the ring
        changed, else every owner; and if it stays one, and is the first of the owners
        that stay, the owners new to the key too (so a new owner gets the key even when
        the one that left it is down; anti-entropy covers the rest)."""
        owners = self.owners(key)
        gained = {o for o in owners if o not in before}
        if self.node_id not in owners:
            # an owner until now hands the key to the new owners only: the others hold it
            # (anti-entropy settles any write one of them missed); any other holder (a
            # write on an older ring, a restart) to every owner
            self.moving.setdefault(key, set()).update(
                gained if self.node_id in before else owners)
            return
        staying = [o for o in owners if o in before]
        if before and gained and staying[0] == self.node_id:
            self.moving.setdefault(key, set()).update(gained)

    def on_peers_changed(self, peers: tuple[NodeId, ...], roles: Mapping[NodeId, str]
                         ) -> None:
        """The runner removed a node for good (``remove-node``): off the ring, whatever
        SWIM still says. An added node joins by SWIM (static membership: here)."""
        for gone in sorted(self.configured - {*peers}):
            self.view.remove(gone)
        self.configured = frozenset(peers)
        self.view.configured = frozenset({self.node_id, *peers})  # static: the ring itself
        self._ring_changed()

    # ------------------------------------------------------------------ clients
    @staticmethod
    def _check_key(key: str) -> None:
        VkvCore._check_key(key)
        if key.startswith(HINTED):
            raise InvalidRequest("key: may not start with a NUL character")

    def _check_quorum(self, name: str, v: int) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= self.options.n:
            raise InvalidRequest(f"{name}: 1 to n={self.options.n} replicas (0: the "
                                 f"default, {getattr(self.options, name)}), got {v!r}")
        return v or int(getattr(self.options, name))

    def _check_put(self, key: str, value: str, context: Mapping[str, int], w: int) -> int:
        self._check_key(key)
        if (size := len(value.encode())) > MAX_VALUE:
            raise InvalidRequest(f"value: {size} bytes, over the limit of {MAX_VALUE}")
        self._check_ids("context", context)
        if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**62
               for v in context.values()):
            raise InvalidRequest("context: maps replica ids to counts in 0..2**62")
        return self._check_quorum("w", w)

    def submit(self, request_id: Any, command: Any) -> None:
        match command:
            case Put(key=key, value=value, context=context, w=w):
                need = self._check_put(key, value, context, w)
                self._route(("client", request_id), Forward("put", key, value,
                                                            dict(context), 0, need))
            case Get(key=key, r=r):
                self._check_key(key)
                need = self._check_quorum("r", r)
                self._route(("client", request_id), Forward("get", key, r=need))
            case Ownership():
                self.out.answers.append(Answer(request_id, self.ownership()))
            case Members() | Leave() if self.swim is not None:
                self.swim.submit(request_id, command)
                self._ring_changed()
            case _:
                raise InvalidRequest(f"dynamo takes no {type(command).__name__}")

    def _route(self, reply_to: tuple[str, Any], req: Forward) -> None:
        """Coordinate if this node owns the key; else forward to the first owner believed
        healthy (the first owner when none is), §4.5."""
        owners = self.owners(req.key)
        if self.node_id in owners:
            self._coordinate(reply_to, req)
            return
        to = next((o for o in owners if self.healthy(o)), owners[0])
        op = self._new_op()
        self.forwards[op] = reply_to
        self.stats["forwarded"] += 1
        self.out.messages.append(Envelope(NodeId(to), Forward(
            req.kind, req.key, req.value, req.context, req.r, req.w, op),
            deadline_ms=3 * self.options.replica_timeout_ms))

    def _new_op(self) -> int:
        self.next_op += 1
        return self.next_op

    def _unseen(self, key: str, context: Mapping[str, int]) -> bool:
        """Does ``context`` name writes of ``key`` this replica has not seen?"""
        s = self.store.get(key)
        seen = s.context() if s is not None else VectorClock()
        return any(n > seen[rid] for rid, n in context.items())

    def _coordinate(self, reply_to: tuple[str, Any], req: Forward, reread: bool = False
                    ) -> None:
        """Raises InvalidRequest (nothing changed) for a context naming writes that no
        replica this node reaches has seen (vkv's rule)."""
        key = req.key
        hints = self.targets(key)
        others = {t: h for t, h in hints.items() if t != self.node_id}
        op_id = self._new_op()
        self.stats["coordinated"] += 1
        deadline = self.options.replica_timeout_ms
        if req.kind == "put" and not self.lww and (self._unseen(key, req.context)
                                                   or self._behind(key)):
            if reread or not others:
                self._check_context(key, req.context)  # raises, naming the count
                self._answer(reply_to, Forwarded(False, error=(
                    f"put {key!r}: this node wrote the key before handing it over, and no "
                    f"replica it reached holds those writes; nothing was written")))
                return
            self.stats["prereads"] += 1
            op = _Op("preread", key, 0, reply_to, hints, set(others), then=req)
            for t in sorted(others):
                self.out.messages.append(Envelope(NodeId(t), ReplicaGet(key, op_id),
                                                  deadline_ms=deadline))
        elif req.kind == "put":
            self.writes += 1
            s = self._write(key, self._new_version(key, req))
            op = _Op("put", key, req.w, reply_to, hints, set(others))
            raw = self._encode(s)
            for t, h in sorted(others.items()):
                self.out.messages.append(Envelope(NodeId(t), ReplicaPut(key, raw, h, op_id),
                                                  deadline_ms=deadline))
        else:
            mine = self.store.get(key)
            op = _Op("get", key, req.r, reply_to, hints, set(others),
                     replies={self.node_id: self._encode(mine) if mine is not None else b""})
            for t in sorted(others):
                self.out.messages.append(Envelope(NodeId(t), ReplicaGet(key, op_id),
                                                  deadline_ms=deadline))
        self.ops[op_id] = op
        self._progress(op_id, op)

    def _new_version(self, key: str, req: Forward) -> Any:
        """The put's version, merged with what this replica holds: under siblings, a new
        dot over the context (§4.4); under last-write-wins, a register stamped with this
        node's wall clock (which is why a skewed clock loses writes)."""
        mine = self.store.get(key)
        if self.lww:
            ts = round((self.clock() * 1000 + self.options.clock_offset_ms) * 1000)
            new = LwwRegister(max(ts, 0), self.replica_id, req.value)
            return new if mine is None else mine.sync(new)  # type: ignore[arg-type]
        return (mine or empty(KIND)).update(VectorClock(dict(req.context)), self.replica_id,
                                            req.value)

    def _write(self, key: str, s: State) -> State:
        super()._write(key, s)
        raw = self.out.persist[-1].state  # the bytes the write just encoded
        if key in self.dropped and not self._behind(key):
            del self.dropped[key]  # our writes are in the state again
            self.out.persist.append(KeyRecord(dropped_key(key), b""))
        owners = self.owners(key)
        if self.node_id not in owners:
            self._place(key)  # written here on an older ring: it moves on
        self._index(key, owners, raw)
        return s

    def _progress(self, op_id: int, op: _Op) -> None:
        """Answer once the quorum is met, or once it no longer can be; forget the
        request (after read repair) once every replica answered or failed."""
        if op.kind == "preread":
            if not op.waiting:
                del self.ops[op_id]
                assert op.then is not None
                try:
                    self._coordinate(op.reply_to, op.then, reread=True)
                except InvalidRequest as e:
                    self._answer(op.reply_to, Forwarded(False, error=str(e), refused=True))
            return
        if not op.answered and op.got >= op.need:
            s = self.store.get(op.key)
            self._answer(op.reply_to, Forwarded(
                True, tuple(sorted(s.values())) if s is not None else (),
                s.context().as_dict() if s is not None else {}))
            op.answered = True
        elif not op.answered and op.got + len(op.waiting) < op.need:
            what = "acks" if op.kind == "put" else "replies"
            self._answer(op.reply_to, Forwarded(
                False, error=f"{op.kind} {op.key!r}: {op.got} of the {op.need} {what} "
                             f"needed" + ("; the write may still take effect"
                                          if op.kind == "put" else "")))
            op.answered = True
        if not op.waiting:
            del self.ops[op_id]
            if op.kind == "get":
                self._read_repair(op)

    def _read_repair(self, op: _Op) -> None:
        s = self.store.get(op.key)
        if s is None:
            return
        raw = self._encode(s)
        for node, theirs in sorted(op.replies.items()):
            if node != self.node_id and theirs != raw:
                self.stats["repairs"] += 1
                self.out.messages.append(Envelope(NodeId(node), ReplicaPut(
                    op.key, raw, op.hints.get(node, ""), 0),
                    deadline_ms=self.options.replica_timeout_ms))

    def _answer(self, reply_to: tuple[str, Any], result: Forwarded) -> None:
        how, to = reply_to
        if how == "forward":
            self.out.replies.append(Reply(to, result))
        elif result.ok:
            self.out.answers.append(Answer(to, (list(result.values), dict(result.context))))
        elif result.refused:
            self.out.answers.append(Answer(to, error=InvalidRequest(result.error)))
        else:
            self.stats["unavailable"] += 1
            self.out.answers.append(Answer(to, error=Unavailable(result.error)))

    # ------------------------------------------------------------------ replicas
    def on_message(self, src: NodeId, msg: Any) -> Any:
        if isinstance(msg, SWIM_MESSAGES):
            if self.swim is None:
                raise InvalidRequest("this node runs static membership: no SWIM here")
            reply = self.swim.on_message(src, msg)
            self._ring_changed()
            return reply
        match msg:
            case ReplicaPut(key=key, state=state, hint=hint):
                self._check_key(key)
                if hint and hint != self.node_id:
                    self._merge_hinted(hint, key, state)
                else:
                    self._merge(key, state)
                return ReplicaPutAck(key)
            case ReplicaGet(key=key):
                self._check_key(key)
                s = self.store.get(key)
                for _, hs in sorted(self.hinted.get(key, {}).items()):
                    s = hs if s is None else s.sync(hs)  # type: ignore[arg-type]
                return ReplicaGetReply(key, self._encode(s) if s is not None else b"")
            case AaeAsk(level=level, indices=indices, keys=keys):
                if self.options.anti_entropy == AntiEntropy.OFF:
                    raise InvalidRequest("anti-entropy is off on this node")
                try:
                    got = answer(self._tree(src), Ask(level, tuple(indices), keys))
                except ValueError as e:
                    raise InvalidRequest(f"anti-entropy: {e}") from None
                return AaeAnswer(got.hashes, {i: AaeSegment(items)
                                              for i, items in got.items.items()})
            case Forward(kind="put", key=key, value=value, context=context, w=w):
                need = self._check_put(key, value, context, w)
                return self._coordinate_forwarded(Forward("put", key, value, dict(context),
                                                          0, need))
            case Forward(kind="get", key=key, r=r):
                self._check_key(key)
                return self._coordinate_forwarded(Forward("get", key,
                                                          r=self._check_quorum("r", r)))
        raise InvalidRequest(f"dynamo takes no {type(msg).__name__}")

    def _coordinate_forwarded(self, req: Forward) -> Any:
        """A forwarded request is coordinated here whatever this node's own view of the
        ring's health: forwarding it on could loop."""
        d = Deferred(f"{req.kind} {req.key}")
        try:
            self._coordinate(("forward", d), req)
        except InvalidRequest as e:
            return Forwarded(False, error=str(e), refused=True)
        return d

    def _merge_hinted(self, owner: str, key: str, raw: bytes) -> None:
        """Keep a version meant for ``owner`` apart (§4.6), with the checks of vkv's
        ``_merge`` on what it claims."""
        if owner not in self.view.nodes:
            raise InvalidRequest(f"hint: {owner!r} is not a node of the ring")
        try:
            theirs = self._decode(raw)
        except ValueError as e:
            raise InvalidRequest(f"state of {key!r}: {e}") from None
        claimed = theirs.context()
        self._check_ids(f"state of {key!r}", claimed)
        made = self._made(key)
        if claimed[self.replica_id] > made:
            raise InvalidRequest(f"state of {key!r} claims {claimed[self.replica_id]} "
                                 f"writes of {self.replica_id}; it made {made}")
        held = self.hinted.setdefault(key, {})
        mine = held.get(owner)
        merged = theirs if mine is None else mine.sync(theirs)
        if mine is None or merged != mine:
            self.stats["hinted_writes"] += 1
            held[owner] = merged
            self.out.persist.append(KeyRecord(hinted_key(owner, key), self._encode(merged)))

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        if isinstance(request, SWIM_MESSAGES):
            if self.swim is not None:
                self.swim.on_reply(src, request, reply)
                self._ring_changed()
            return
        self.view.answered(src)
        match reply:
            case AaeAnswer():
                self._on_tree_answer(src, reply)
            case ReplicaGetReply() if request.op in self.pulls:
                self.pulls.discard(request.op)
                self.aae["repair_bytes"] += len(reply.state)
                if reply.state:
                    try:
                        self._merge(reply.key, reply.state)
                    except InvalidRequest:
                        pass  # a bad version is not taken; the next exchange tries again
            case ReplicaPutAck() if request.op in self.transfers:
                self._delivered(self._transfer_done(request.op))
            case ReplicaPutAck() | ReplicaGetReply():
                op = self.ops.get(request.op)
                if op is None or src not in op.waiting:
                    return  # a read repair's ack, or a request already forgotten
                op.waiting.discard(src)
                if isinstance(reply, ReplicaGetReply):
                    try:  # sync the replica's version into ours: read repair of ourselves
                        if reply.state:
                            self._merge(op.key, reply.state)
                        op.replies[src] = reply.state
                        op.got += 1
                    except InvalidRequest:
                        pass  # a bad version counts as no reply
                else:
                    op.got += 1
                self._progress(request.op, op)
            case Forwarded():
                reply_to = self.forwards.pop(request.op, None)
                if reply_to is not None:
                    self._answer(reply_to, reply)

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        """No reply by the deadline: skip ``dst`` for the next requests (§4.6)."""
        if isinstance(request, SWIM_MESSAGES):
            if self.swim is not None:
                self.swim.on_send_failed(dst, request)
                self._ring_changed()
            return
        self.view.failed(dst, self.now)
        if isinstance(request, AaeAsk):
            self.exchange = None  # abandoned: the next round picks a peer again
            return
        if isinstance(request, ReplicaGet):
            self.pulls.discard(request.op)
        if isinstance(request, Forward):
            reply_to = self.forwards.pop(request.op, None)
            if reply_to is not None:
                self._answer(reply_to, Forwarded(False, error=(
                    f"{request.kind} {request.key!r}: its coordinator {dst} did not answer"
                    + ("; the write may still take effect" if request.kind == "put" else ""))))
            return
        if isinstance(request, ReplicaPut) and request.op in self.transfers:
            self._transfer_done(request.op)  # tried again at the next handoff round
            return
        if isinstance(request, (ReplicaPut, ReplicaGet)):
            op = self.ops.get(request.op)
            if op is not None and dst in op.waiting:
                op.waiting.discard(dst)
                self._progress(request.op, op)

    # ------------------------------------------------------------------ handoff, moves
    def tick(self) -> None:
        self.now += 1
        if self.swim is not None:
            self.swim.tick()
            self._ring_changed()
        if self.now % self.handoff_ticks == 0:
            self._hand_off()
            self._move()
        if self.options.anti_entropy != AntiEntropy.OFF and self.now % self.aae_ticks == 0:
            self._start_exchange()

    def _in_flight(self, why: str, key: str, to: str, owner: str = "") -> bool:
        return (why, key, to, owner) in self.sending

    def _send_transfer(self, t: _Transfer) -> None:
        op = self._new_op()
        self.transfers[op] = t
        self.sending.add((t.why, t.key, t.to, t.owner))
        self.out.messages.append(Envelope(NodeId(t.to), ReplicaPut(t.key, t.sent, "", op),
                                          deadline_ms=self.options.replica_timeout_ms))

    def _transfer_done(self, op: int) -> _Transfer:
        t = self.transfers.pop(op)
        self.sending.discard((t.why, t.key, t.to, t.owner))
        return t

    def _hand_off(self) -> None:
        """§4.6: deliver each hinted version to its owner once the owner is healthy; an
        owner gone from the ring is replaced by the key's owners now (this node among
        them keeps the version as its own)."""
        budget = self.options.transfer_batch - len(self.transfers)
        for key, held in sorted(self.hinted.items()):
            for owner, s in sorted(held.items()):
                if budget <= 0:
                    return
                raw = self._encode(s)
                if owner not in self.view.nodes:
                    self._rehome(key, owner, s)
                elif self.healthy(owner) and not self._in_flight("handoff", key, owner, owner):
                    self._send_transfer(_Transfer("handoff", key, owner, raw, owner))
                    budget -= 1

    def _rehome(self, key: str, owner: str, s: Any) -> None:
        """The hint's owner left the ring: the version is the key's like any other; this
        node takes it as its own (and moves it on if it is not an owner)."""
        del self.hinted[key][owner]
        if not self.hinted[key]:
            del self.hinted[key]
        self.out.persist.append(KeyRecord(hinted_key(owner, key), b""))
        mine = self.store.get(key)
        self._write(key, s if mine is None else mine.sync(s))
        self._place(key)

    def _move(self) -> None:
        """§4.9: stream the keys this node owes to owners, a batch at a time."""
        budget = self.options.transfer_batch - len(self.transfers)
        for key, owed in sorted(self.moving.items()):
            s = self.store.get(key)
            owed.intersection_update(self.owners(key))  # the ring changed again since
            if s is None or not owed:
                self._settle(key)
                continue
            for to in sorted(owed):
                if budget <= 0:
                    return
                if to == self.node_id:
                    owed.discard(to)
                elif self.healthy(to) and not self._in_flight("move", key, to):
                    self._send_transfer(_Transfer("move", key, to, self._encode(s)))
                    budget -= 1

    def _delivered(self, t: _Transfer) -> None:
        """An owner acknowledged a version: durable there. If it is still the version
        held here, the hint (or the debt) is paid."""
        if t.why == "handoff":
            held = self.hinted.get(t.key, {})
            s = held.get(t.owner)
            if s is not None and self._encode(s) == t.sent:
                del held[t.owner]
                if not held:
                    del self.hinted[t.key]
                self.stats["handed_off"] += 1
                self.out.persist.append(KeyRecord(hinted_key(t.owner, t.key), b""))
            return
        s = self.store.get(t.key)
        owed = self.moving.get(t.key)
        if s is None or owed is None or self._encode(s) != t.sent:
            return
        owed.discard(t.to)
        self.stats["moved"] += 1
        if not owed:
            self._settle(t.key)

    def _settle(self, key: str) -> None:
        """Nothing more is owed for ``key``: a node that is not one of its owners drops
        it (every owner acknowledged it, durably)."""
        self.moving.pop(key, None)
        if key in self.store and self.node_id not in self.owners(key):
            if made := super()._made(key):  # a dot of ours must never be reused
                self.dropped[key] = made
                self.out.persist.append(KeyRecord(dropped_key(key), str(made).encode()))
            del self.store[key]
            self._index(key)
            self.stats["dropped"] += 1
            self.out.persist.append(KeyRecord(key, b""))

    # ------------------------------------------------------------------ anti-entropy
    def _shared(self, key: str, peer: str) -> bool:
        owners = self.owners(key)
        return self.node_id in owners and peer in owners

    def _tree(self, peer: str) -> AntiEntropyTree:
        """The tree over the keys this node and ``peer`` both own, built on first use
        (and after a ring change), kept up to date by every write after that."""
        tree = self.trees.get(peer)
        if tree is None:
            cls = TictacTree if self.options.anti_entropy == AntiEntropy.TICTAC \
                else MerkleTree
            tree = cls(self.options.aae_depth, self.options.aae_fanout)
            for key, s in self.store.items():
                if self._shared(key, peer):
                    tree.set(key, item_hash(key, self._encode(s)))
            self.trees[peer] = tree
        return tree

    def _index(self, key: str, owners: Sequence[str] = (), raw: bytes = b"") -> None:
        """A write of ``key`` (its ``owners`` and encoded state ``raw``) or a drop (no
        raw): update the tree of every peer sharing it, hashing the version once."""
        h = item_hash(key, raw) if raw and self.node_id in owners else None
        for peer, tree in self.trees.items():
            if h is not None and peer in owners:
                tree.set(key, h)
            elif tree.get(key) is not None:
                tree.delete(key)

    def _start_exchange(self) -> None:
        """Compare trees with the next healthy peer, in turn (§4.7)."""
        if self.exchange is not None:
            return
        peers = sorted(self.view.nodes - {self.node_id})
        for i in range(len(peers)):
            peer = peers[(self.next_peer + i) % len(peers)]
            if self.healthy(peer):
                self.next_peer = (self.next_peer + i + 1) % len(peers)
                ex = Exchange(self._tree(peer))
                self.exchange = (peer, ex)
                self._ask(peer, ex.start())
                return

    def _ask(self, peer: str, ask: Ask) -> None:
        self.out.messages.append(Envelope(NodeId(peer), AaeAsk(ask.level, ask.indices,
                                                               ask.keys),
                                          deadline_ms=self.options.replica_timeout_ms))

    def _on_tree_answer(self, src: str, reply: AaeAnswer) -> None:
        if self.exchange is None or self.exchange[0] != src:
            return
        try:
            step = self.exchange[1].on_answer(TreeAnswer(
                dict(reply.hashes), {i: dict(seg.items) for i, seg in reply.items.items()}))
        except ValueError:
            self.exchange = None  # not an answer to what we asked: drop the exchange
            return
        if isinstance(step, Ask):
            self._ask(src, step)
            return
        self.exchange = None
        self._repair(src, step)

    def _repair(self, peer: str, done: Done) -> None:
        """Push our version of every key that differs, pull the peer's."""
        self.aae["exchanges"] += 1
        self.aae["rounds"] += done.rounds
        self.aae["tree_bytes"] += done.bytes_sent + done.bytes_received
        self.aae["keys_repaired"] += len(done.keys)
        for key in sorted(done.keys):
            s = self.store.get(key)
            if s is not None and key not in done.missing_here:
                raw = self._encode(s)
                self.aae["repair_bytes"] += len(raw)
                self.out.messages.append(Envelope(NodeId(peer), ReplicaPut(key, raw, "", 0),
                                                  deadline_ms=self.options.replica_timeout_ms))
            if key not in done.missing_there:
                op = self._new_op()
                self.pulls.add(op)
                self.out.messages.append(Envelope(NodeId(peer), ReplicaGet(key, op),
                                                  deadline_ms=self.options.replica_timeout_ms))

    # ------------------------------------------------------------------ status
    def ready(self) -> Ready:
        out = super().ready()
        if self.swim is not None:
            theirs = self.swim.ready()
            out.persist.extend(theirs.persist)
            out.messages.extend(theirs.messages)
            out.replies.extend(theirs.replies)
            out.answers.extend(theirs.answers)
            out.trace.extend(theirs.trace)
        return out

    def suspects(self) -> list[str]:
        return self.view.suspects(self.now)

    def ownership(self) -> dict[str, Any]:
        """Each node's share of the key space, as first owner and as one of the N (from
        the ring's arcs), and this node's keys, hinted versions and keys still to move."""
        ring, n = self.view.ring, self.options.n
        first: dict[str, float] = dict.fromkeys(sorted(self.view.nodes), 0.0)
        replica = dict(first)
        span = 2**64
        for start, end, owners in ring.arcs(min(n, len(first))):
            arc = (end - start) % span or span
            first[owners[0]] += arc / span
            for o in owners:
                replica[o] += arc / span
        return {"nodes": sorted(first), "first": first, "replica": replica,
                "keys": len(self.store), "hinted": sum(len(o) for o in self.hinted.values()),
                "moving": len(self.moving)}

    def status(self) -> NodeStatus:
        sizes = list(self.siblings().values())
        details = {
            "replica_id": self.replica_id, "keys": str(len(sizes)),
            "max_siblings": str(max(sizes, default=0)), "writes": str(self.writes),
            "merges": str(self.merges), "ring": ",".join(sorted(self.view.nodes)),
            "hinted": str(sum(len(o) for o in self.hinted.values())),
            "moving": str(len(self.moving)), "suspects": ",".join(self.suspects()),
            "resolve": str(self.options.resolve), "n": str(self.options.n),
            "r": str(self.options.r), "w": str(self.options.w),
            **{k: str(v) for k, v in self.stats.items()},
            **{f"aae_{k}": str(v) for k, v in self.aae.items()}}
        role = "replica"
        if self.swim is not None:
            swim = self.swim.status()
            details |= {k: v for k, v in swim.details.items() if k.startswith("member.")}
            role = "left" if self.swim.left else "replica"
        return NodeStatus(role, 0, "", details)
