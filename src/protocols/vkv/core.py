"""A Dynamo-style multi-version KV replica, sans-IO (DeCandia et al., "Dynamo: Amazon's
Highly Available Key-value Store", SOSP 2007, §4.4; course chapter 48 on versioning).

Every replica accepts reads and writes, even cut off from the others (always writable).
A read returns a key's *siblings* and a *causal context*; a write carries the context of
the client's last read, so the replica replaces exactly what that client had seen and
keeps everything else as siblings. A write is answered like a read of the key right
after it (its siblings and their context, Riak's ``return_body``): the context covers
every sibling, another client's too, so it is safe to write with again only because the
answer shows them all.

* writes that did not see each other (two sides of a partition, two clients racing) both
  survive, as siblings, and the next read returns them together;
* a write whose context covers the siblings resolves them into one value.

The causality comes from ``protocols.clocks``: dotted version vectors (``DVVSet``, the
default; what Riak adopted against sibling explosion) or plain version vectors
(``VVSiblings``), selectable so the two can be compared on the same workload.

Replication: after a write, the replica sends the key's new state to every peer
(``Replicate``); every ``sync_interval_ms`` it exchanges state hashes with a random peer
and both sides send what differs (anti-entropy, §4.7). Merging is the sibling store's
``sync`` (commutative, idempotent), so replicas converge whatever the order. A write is
answered once the key's new state is on disk.

Whose events. A replica counts its writes under a *replica id*, its node id and the
incarnation of its disk (``n1~5e0c2a17``), chosen when it starts on an empty disk and
kept there: a node whose disk was wiped starts a new count under a new id, instead of
reissuing dots its peers hold with other values (they would drop its new, acknowledged
writes as duplicates). A claim about events no one could have shown is refused as bad
input and changes nothing: a client's context naming more writes of a key than this
replica has seen (a context comes from a read; ``{n2: 1000}`` would erase n2's writes
this replica has not seen yet, and every one of n2's next ones), a peer's state naming
more writes of this replica than it made, or ids that are not replicas of this cluster.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.clocks import VectorClock
from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.common.options import Options, option
from protocols.contract import Answer, Core, Envelope, NodeStatus, Ready
from protocols.vkv.messages import Digest, DigestReply, Replicate
from protocols.vkv.state import State, decode, digest, empty, encode

__all__ = ["Clock", "Get", "KeyRecord", "Put", "ReplicaIdRecord", "VkvCore", "VkvOptions",
           "member_of"]

MAX_KEY = 1024
MAX_VALUE = 64 * 1024


class Clock(enum.StrEnum):
    """How a key's versions are tracked (``state.py``)."""

    DVV = "dvv"  # dotted version vectors: one sibling per concurrent write
    VV = "vv"  # one version vector per key: siblings of one replica may be lost


@dataclass(frozen=True, slots=True)
class VkvOptions(Options):
    protocol = "vkv"

    clock: Clock = option(Clock.DVV, "dotted version vectors, or one version vector per key")
    sync_interval_ms: int = option(1000, "anti-entropy with a random peer this often", min=1)
    fsync: bool = option(True, "fsync every write (false: faster, and not durable)")


@dataclass(frozen=True, slots=True)
class Get:
    key: str


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: str
    context: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A persist record: the new state of one key."""

    key: str
    state: bytes


@dataclass(frozen=True, slots=True)
class ReplicaIdRecord:
    """A persist record, first on a new disk: the id this disk's writes are counted under."""

    replica_id: str


def member_of(replica_id: str) -> str:
    """The node a replica id belongs to: ``n1`` for ``n1~5e0c2a17``."""
    return replica_id.split("~", 1)[0]


class VkvCore(Core):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], rng: random.Random,
                 options: VkvOptions, recovered: Mapping[str, bytes], tick_s: float,
                 replica_id: str | None = None) -> None:
        self.node_id = node_id
        self.peers = tuple(peers)
        self.members = frozenset((node_id, *peers))
        self.rng = rng
        self.out = Ready()
        if replica_id is None:  # a new disk: a new count, under an id no life had
            replica_id = f"{node_id}~{rng.getrandbits(32):08x}"
            self.out.persist.append(ReplicaIdRecord(replica_id))
        if member_of(replica_id) != node_id:
            raise ValueError(f"replica id {replica_id!r} is not one of {node_id}'s")
        self.replica_id = replica_id
        self.kind = options.clock
        self.sync_ticks = max(1, round(options.sync_interval_ms / 1000 / tick_s))
        self.store: dict[str, State] = {k: self._decode(v) for k, v in recovered.items()}
        self.now = 0
        self.writes = 0
        self.merges = 0

    # ------------------------------------------------------------------ clients
    def submit(self, request_id: Any, command: Any) -> None:
        match command:
            case Get(key=key):
                self._check_key(key)
                s = self.store.get(key)
                values = sorted(s.values()) if s is not None else []
                context = s.context().as_dict() if s is not None else {}
                self.out.answers.append(Answer(request_id, (values, context)))
            case Put(key=key, value=value, context=context):
                self._check_key(key)
                if (size := len(value.encode())) > MAX_VALUE:
                    raise InvalidRequest(f"value: {size} bytes, over the limit of "
                                         f"{MAX_VALUE}")
                self._check_context(key, context)
                self.writes += 1
                s = self._write(key, self.store.get(key, empty(self.kind)).update(
                    VectorClock(dict(context)), self.replica_id, value))
                for p in self.peers:  # eager replication; anti-entropy repairs losses
                    self.out.messages.append(Envelope(NodeId(p), Replicate(key, encode(s))))
                # the key as the write left it: the context covers every value listed
                # (siblings other writers added included), so a next write with it
                # replaces only values its writer was shown
                self.out.answers.append(Answer(request_id, (sorted(s.values()),
                                                            s.context().as_dict())))
            case _:
                raise InvalidRequest(f"the versioned KV takes no {type(command).__name__}")

    def _check_context(self, key: str, context: Mapping[str, int]) -> None:
        """A context is what a read returned: it names replicas of this cluster, and no
        more of a replica's writes of ``key`` than this replica has seen (a read here
        shows them all; a read elsewhere, once this replica has synced)."""
        self._check_ids("context", context)
        if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**62
               for v in context.values()):
            raise InvalidRequest("context: maps replica ids to counts in 0..2**62")
        s = self.store.get(key)
        seen = s.context() if s is not None else VectorClock()
        for rid, n in sorted(context.items()):
            if n > seen[rid]:
                raise InvalidRequest(
                    f"context[{rid}] claims {n} writes to {key!r}; this replica has seen "
                    f"{seen[rid]}: write with the context of a read from this replica (or "
                    f"once it has synced)")

    def _check_ids(self, what: str, ids: Iterable[str]) -> None:
        strangers = sorted(r for r in ids if member_of(r) not in self.members)
        if strangers:
            raise InvalidRequest(f"{what}: names replicas of this cluster only "
                                 f"({', '.join(sorted(self.members))}), got {strangers}")

    @staticmethod
    def _check_key(key: str) -> None:
        if not key or len(key.encode()) > MAX_KEY:
            raise InvalidRequest(f"key: a key is 1 to {MAX_KEY} bytes, got "
                                 f"{len(key.encode())}")

    def _write(self, key: str, s: State) -> State:
        self.store[key] = s
        self.out.persist.append(KeyRecord(key, self._encode(s)))  # answered once durable
        return s

    def _made(self, key: str) -> int:
        """How many writes of ``key`` this replica has made (its dot counter)."""
        mine = self.store.get(key)
        return mine.context()[self.replica_id] if mine is not None else 0

    def _decode(self, raw: bytes) -> State:
        """A key's state from the wire or the disk (ValueError if malformed); a store
        built on this one may keep its versions another way (Dynamo's last-write-wins)."""
        return decode(raw, self.kind)

    @staticmethod
    def _encode(s: State) -> bytes:
        return encode(s)

    def _merge(self, key: str, raw: bytes) -> None:
        """Sync another replica's state of ``key`` into ours (Dynamo's reconciliation).
        It may know more of anyone's writes than we do, except of ours."""
        try:
            theirs = self._decode(raw)
        except ValueError as e:
            raise InvalidRequest(f"state of {key!r}: {e}") from None
        mine = self.store.get(key)
        made = self._made(key)
        claimed = theirs.context()
        self._check_ids(f"state of {key!r}", claimed)
        if claimed[self.replica_id] > made:
            raise InvalidRequest(f"state of {key!r} claims {claimed[self.replica_id]} "
                                 f"writes of {self.replica_id}; it made {made}")
        merged = theirs if mine is None else mine.sync(theirs)  # type: ignore[arg-type]
        if mine is None or merged != mine:
            self.merges += 1
            self._write(key, merged)

    # ------------------------------------------------------------------ replicas
    def on_message(self, src: NodeId, msg: Any) -> Any:
        match msg:
            case Replicate(key=key, state=state):
                self._check_key(key)
                self._merge(key, state)
                return None
            case Digest(hashes=hashes):
                mine = {k: digest(s) for k, s in self.store.items()}
                differ = sorted(k for k in mine.keys() | hashes.keys()
                                if mine.get(k) != hashes.get(k))
                return DigestReply({k: encode(self.store[k]) for k in differ if k in mine},
                                   tuple(k for k in differ if k in hashes))
        raise InvalidRequest(f"the versioned KV takes no {type(msg).__name__}")

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        if isinstance(reply, DigestReply):
            for key, state in sorted(reply.states.items()):
                try:  # a bad state in a reply is skipped: the rest is still good
                    self._check_key(key)
                    self._merge(key, state)
                except InvalidRequest:
                    continue
            for key in reply.wanted:
                if key in self.store:
                    self.out.messages.append(
                        Envelope(src, Replicate(key, encode(self.store[key]))))

    def tick(self) -> None:
        self.now += 1
        if self.peers and self.now % self.sync_ticks == 0:
            peer = self.rng.choice(self.peers)
            self.out.messages.append(Envelope(peer, Digest(
                {k: digest(s) for k, s in self.store.items()})))

    # ------------------------------------------------------------------ outbox, status
    def ready(self) -> Ready:
        out, self.out = self.out, Ready()
        return out

    def siblings(self) -> dict[str, int]:
        return {k: s.size() for k, s in self.store.items()}

    def status(self) -> NodeStatus:
        sizes = list(self.siblings().values())
        return NodeStatus("replica", 0, "", {
            "replica_id": self.replica_id, "clock": self.kind, "keys": str(len(sizes)),
            "max_siblings": str(max(sizes, default=0)),
            "siblings": str(sum(sizes)), "writes": str(self.writes),
            "merges": str(self.merges)})
