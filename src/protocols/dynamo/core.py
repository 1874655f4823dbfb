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

Reused, not copied: ``VkvCore`` (the subclass's base) holds the sibling store per key,
the replica id per disk incarnation (a wiped disk counts its writes under a new id),
the checks on contexts and on a peer's claims (``_check_context``, ``_check_ids``,
``_merge``), and ``vkv.state`` encodes a key's state on the wire and on disk.

Later slices (not here; nothing below pretends to do them):

* TODO(membership): SWIM to learn who is alive and who joined; the ring is the
  cluster's configured nodes (``on_peers_changed`` is ignored).
* TODO(hinted handoff): deliver hinted versions back to their owner once it is
  reachable, then drop them (§4.6); today they stay with the stand-in, served to gets.
* TODO(anti-entropy): Merkle trees per key range (§4.7) or Tictac trees; today only
  read repair converges replicas.
* TODO(rebalancing): move key ranges when nodes join or leave (§4.9, §6.2 strategies).
* TODO(shell): the gRPC node and client service (``node.py``, ``protos/dynamo.proto``).
* TODO(contexts across coordinators): a write's context is checked against the
  coordinator's own store (vkv's rule); a context from a quorum read coordinated
  elsewhere may name writes this coordinator has not seen yet, and is refused
  (InvalidRequest: nothing happened) until read repair or anti-entropy brings them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.clocks import VectorClock
from protocols.common.errors import ConfigError, InvalidRequest, Unavailable
from protocols.common.ids import NodeId
from protocols.common.options import Options, option
from protocols.contract import Answer, Deferred, Envelope, NodeStatus, Reply
from protocols.dynamo.messages import (
    Forward,
    Forwarded,
    ReplicaGet,
    ReplicaGetReply,
    ReplicaPut,
    ReplicaPutAck,
)
from protocols.hashing import Ring
from protocols.vkv.core import MAX_VALUE, Clock, KeyRecord, VkvCore, VkvOptions
from protocols.vkv.state import State, decode, empty, encode

__all__ = ["HINTED", "DynamoCore", "DynamoOptions", "Get", "Put", "hinted_key",
           "split_hinted_key"]

HINTED = "\x00"  # a hinted version's storage key: "\0owner\0key" (no client key starts so)
KIND = Clock.DVV  # dotted version vectors: one sibling per concurrent write


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
    fsync: bool = option(True, "fsync every write (false: faster, and not durable)")

    def validate(self, members: tuple[str, ...]) -> None:
        if members and self.n > len(members):  # no members: parsed without a cluster
            raise ConfigError(f"dynamo n={self.n}: more replicas than the {len(members)} "
                              f"nodes of the cluster")
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


def hinted_key(owner: str, key: str) -> str:
    return f"{HINTED}{owner}{HINTED}{key}"


def split_hinted_key(stored: str) -> tuple[str, str]:
    owner, _, key = stored[1:].partition(HINTED)
    return owner, key


@dataclass(slots=True)
class _Op:
    """A request this node coordinates: who waits for it, and which replicas may still
    answer."""

    kind: str  # "put" | "get"
    key: str
    need: int  # W or R
    reply_to: tuple[str, Any]  # ("client", request_id) | ("forward", Deferred)
    hints: dict[str, str]  # node -> the owner it stands in for ("" for an owner)
    waiting: set[str]
    got: int = 1  # the coordinator's own write or read
    answered: bool = False
    replies: dict[str, bytes] = field(default_factory=dict)  # get: each replica's version


class DynamoCore(VkvCore):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], rng: random.Random,
                 options: DynamoOptions, recovered: Mapping[str, bytes], tick_s: float,
                 replica_id: str | None = None) -> None:
        own = {k: v for k, v in recovered.items() if not k.startswith(HINTED)}
        super().__init__(node_id, peers, rng, VkvOptions(clock=KIND, fsync=options.fsync),
                         own, tick_s, replica_id)
        self.options = options
        self.hinted: dict[str, dict[str, State]] = {}  # key -> owner -> its version
        for stored, raw in sorted(recovered.items()):
            if stored.startswith(HINTED):
                owner, key = split_hinted_key(stored)
                self.hinted.setdefault(key, {})[owner] = decode(raw, KIND)
        self.ring = Ring(options.vnodes)
        for m in sorted(self.members):
            self.ring.add(m)
        self.memory_ticks = math.ceil(options.failure_memory_ms / 1000 / tick_s)
        self.failed_at: dict[str, int] = {}  # node -> the tick its request failed
        self.ops: dict[int, _Op] = {}
        self.forwards: dict[int, tuple[str, Any]] = {}  # op -> who waits for it
        self.next_op = 0
        self.stats = {"coordinated": 0, "forwarded": 0, "unavailable": 0, "repairs": 0,
                      "hinted_writes": 0}

    # ------------------------------------------------------------------ the ring
    def preference_list(self, key: str) -> list[str]:
        """Every node, in the key's order on the ring (§4.3); its top N own the key."""
        return self.ring.nodes_for(key, len(self.members))

    def healthy(self, node: str) -> bool:
        t = self.failed_at.get(node)
        return node == self.node_id or t is None or self.now - t >= self.memory_ticks

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
            case _:
                raise InvalidRequest(f"dynamo takes no {type(command).__name__}")

    def _route(self, reply_to: tuple[str, Any], req: Forward) -> None:
        """Coordinate if this node owns the key; else forward to the first owner believed
        healthy (the first owner when none is), §4.5."""
        owners = self.preference_list(req.key)[:self.options.n]
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

    def _coordinate(self, reply_to: tuple[str, Any], req: Forward) -> None:
        """Raises InvalidRequest (nothing changed) for a context naming writes this
        replica has not seen (vkv's rule)."""
        key = req.key
        hints = self.targets(key)
        others = {t: h for t, h in hints.items() if t != self.node_id}
        op_id = self._new_op()
        self.stats["coordinated"] += 1
        deadline = self.options.replica_timeout_ms
        if req.kind == "put":
            self._check_context(key, req.context)
            self.writes += 1
            s = self._write(key, self.store.get(key, empty(KIND)).update(
                VectorClock(dict(req.context)), self.replica_id, req.value))
            op = _Op("put", key, req.w, reply_to, hints, set(others))
            raw = encode(s)
            for t, h in sorted(others.items()):
                self.out.messages.append(Envelope(NodeId(t), ReplicaPut(key, raw, h, op_id),
                                                  deadline_ms=deadline))
        else:
            mine = self.store.get(key)
            op = _Op("get", key, req.r, reply_to, hints, set(others),
                     replies={self.node_id: encode(mine) if mine is not None else b""})
            for t in sorted(others):
                self.out.messages.append(Envelope(NodeId(t), ReplicaGet(key, op_id),
                                                  deadline_ms=deadline))
        self.ops[op_id] = op
        self._progress(op_id, op)

    def _progress(self, op_id: int, op: _Op) -> None:
        """Answer once the quorum is met, or once it no longer can be; forget the
        request (after read repair) once every replica answered or failed."""
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
        raw = encode(s)
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
                return ReplicaGetReply(key, encode(s) if s is not None else b"")
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
        if owner not in self.members:
            raise InvalidRequest(f"hint: {owner!r} is not a node of this cluster")
        try:
            theirs = decode(raw, KIND)
        except ValueError as e:
            raise InvalidRequest(f"state of {key!r}: {e}") from None
        claimed = theirs.context()
        self._check_ids(f"state of {key!r}", claimed)
        mine_own = self.store.get(key)
        made = mine_own.context()[self.replica_id] if mine_own is not None else 0
        if claimed[self.replica_id] > made:
            raise InvalidRequest(f"state of {key!r} claims {claimed[self.replica_id]} "
                                 f"writes of {self.replica_id}; it made {made}")
        held = self.hinted.setdefault(key, {})
        mine = held.get(owner)
        merged = theirs if mine is None else mine.sync(theirs)  # type: ignore[arg-type]
        if mine is None or merged != mine:
            self.stats["hinted_writes"] += 1
            held[owner] = merged
            self.out.persist.append(KeyRecord(hinted_key(owner, key), encode(merged)))

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        self.failed_at.pop(src, None)
        match reply:
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
        if isinstance(request, (ReplicaPut, ReplicaGet, Forward)):
            self.failed_at[dst] = self.now
        if isinstance(request, Forward):
            reply_to = self.forwards.pop(request.op, None)
            if reply_to is not None:
                self._answer(reply_to, Forwarded(False, error=(
                    f"{request.kind} {request.key!r}: its coordinator {dst} did not answer"
                    + ("; the write may still take effect" if request.kind == "put" else ""))))
            return
        if isinstance(request, (ReplicaPut, ReplicaGet)):
            op = self.ops.get(request.op)
            if op is not None and dst in op.waiting:
                op.waiting.discard(dst)
                self._progress(request.op, op)

    def tick(self) -> None:
        self.now += 1  # no anti-entropy yet (TODO in the module doc)

    # ------------------------------------------------------------------ status
    def suspects(self) -> list[str]:
        return sorted(n for n in self.failed_at if not self.healthy(n))

    def status(self) -> NodeStatus:
        sizes = list(self.siblings().values())
        details = {
            "replica_id": self.replica_id, "keys": str(len(sizes)),
            "max_siblings": str(max(sizes, default=0)), "writes": str(self.writes),
            "merges": str(self.merges),
            "hinted": str(sum(len(o) for o in self.hinted.values())),
            "suspects": ",".join(self.suspects()),
            **{k: str(v) for k, v in self.stats.items()}}
        return NodeStatus("replica", 0, "", details)
