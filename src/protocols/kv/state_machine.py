"""The replicated KV state machine, shared by every consensus protocol that serves Kv.

Deterministic: applying the same commands in the same order gives the same state on
every replica. Exactly-once client sessions (Raft thesis §6.3): the state machine
remembers, per client, the highest ``seq`` it applied and that command's result; a
retried command (same client, same seq) returns the remembered result and changes
nothing. Sessions live in snapshots too, so they survive log compaction.

One result per client is enough because a client has at most one command in flight
(``KvClient`` holds a lock around each operation): once it sends seq n+1 it has seen the
answer to seq n, so a command with a *lower* seq is a stale duplicate (a retry still in
the network) whose answer nobody waits for. It changes nothing; it gets the latest result.
A client that pipelined commands would need the thesis' full scheme: results kept per
seq until the client acknowledges them.

The session table is bounded (thesis §6.3, "expiring sessions"): a client opens its
session with a ``register`` command; at most ``max_sessions`` are kept, and registering
one more expires the one that was used least recently. Every replica applies the same
commands in the same order, so every replica expires the same sessions. A write from a
client whose session expired (or never existed) changes nothing and is answered
``SessionExpired``: the client cannot know whether its earlier attempts took effect, so it
must not retry blindly; a duplicate is never applied.

Transactions (``txn``, Jepsen's Elle workloads): a key holds a string (put, cas, ``w``)
or a list of strings (``append``). A txn's micro-ops run in order against a private
overlay of the keys it touches; only if every one succeeds is the overlay written back,
so a txn is applied whole or not at all, at one point of the log: on Raft and
Multi-Paxos, strictly serializable. A read returns the whole list (a tuple), the string,
or None. A txn is aborted, changing nothing (its result says why, and a retry gets the
same answer), if it appends to a key holding a string, grows a list past
``MAX_VALUE_BYTES`` or reads more than ``MAX_TXN_READ_BYTES`` in all (the reply must fit
a gRPC message). ``get`` of a key holding a list returns the list as JSON text.
"""

from __future__ import annotations

import json

from protocols.common.errors import SessionExpired
from protocols.kv.commands import MAX_VALUE_BYTES, KvCommand, KvResult, ReadValue

__all__ = ["DEFAULT_MAX_SESSIONS", "MAX_TXN_READ_BYTES", "KvStateMachine", "TxnAborted"]

MAX_TXN_READ_BYTES = 2 * MAX_VALUE_BYTES  # what one txn may read in all

DEFAULT_MAX_SESSIONS = 10_000


_DONE = KvResult()  # a put's result (frozen, so one instance serves every put)


class TxnAborted(Exception):
    """A micro-op cannot be applied: the txn changes nothing."""


def _size(value: ReadValue) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode())
    return sum(len(item.encode()) for item in value)


class KvStateMachine:
    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        self.data: dict[str, str] = {}
        self.lists: dict[str, tuple[str, ...]] = {}  # keys holding a list (none in data)
        # client -> (last seq applied, its result), least recently used first
        self.sessions: dict[str, tuple[int, KvResult]] = {}
        self.max_sessions = max_sessions

    def read(self, key: str) -> KvResult:
        """A read served outside the log (ReadIndex): no session bookkeeping."""
        value = self._get(key)
        return KvResult(found=value is not None, value=value or "")

    def _get(self, key: str) -> str | None:
        """A key's value as ``get`` sees it: a list reads as its JSON text."""
        if key in self.lists:
            return json.dumps(self.lists[key], ensure_ascii=False, separators=(",", ":"))
        return self.data.get(key)

    def apply(self, cmd: KvCommand) -> KvResult | SessionExpired:
        if cmd.op == "register":
            return self._register(cmd)
        if not cmd.client_id or cmd.is_read:  # no session, or a read: nothing to dedup
            return self._execute(cmd)
        last = self.sessions.pop(cmd.client_id, None)
        if last is None:
            return SessionExpired(f"the session of client {cmd.client_id!r} expired or was "
                                  f"never registered: nothing was applied now, and earlier "
                                  f"attempts of this request may or may not have been")
        if cmd.seq <= last[0]:
            self.sessions[cmd.client_id] = last  # used: now the most recent
            return last[1]  # a retry of something already applied
        result = self._execute(cmd)
        self.sessions[cmd.client_id] = (cmd.seq, result)
        return result

    def _register(self, cmd: KvCommand) -> KvResult:
        """Open (or keep) a session; expire the least recently used one beyond the bound."""
        self.sessions[cmd.client_id] = self.sessions.pop(cmd.client_id, (cmd.seq, KvResult()))
        while len(self.sessions) > self.max_sessions:
            del self.sessions[next(iter(self.sessions))]
        return KvResult()

    def _execute(self, cmd: KvCommand) -> KvResult:
        if cmd.op == "put":  # the common case first: it needs nothing of the old value
            self._write(cmd.key, cmd.value)
            return _DONE
        if cmd.op == "txn":
            return self._txn(cmd)
        current = self._get(cmd.key)
        match cmd.op:
            case "get":
                return KvResult(found=current is not None, value=current or "")
            case "cas":
                holds = current is None if cmd.expected is None else current == cmd.expected
                if holds:
                    self._write(cmd.key, cmd.value)
                return KvResult(found=current is not None, value=current or "", ok=holds)
            case "delete":
                self.data.pop(cmd.key, None)
                self.lists.pop(cmd.key, None)
                return KvResult(found=current is not None)
        raise AssertionError(f"unreachable: {cmd.op}")

    def _write(self, key: str, value: str | tuple[str, ...]) -> None:
        """A key holds a string or a list, never both."""
        if isinstance(value, str):
            self.lists.pop(key, None)
            self.data[key] = value
        else:
            self.data.pop(key, None)
            self.lists[key] = value

    def _txn(self, cmd: KvCommand) -> KvResult:
        """Run the micro-ops in order on an overlay; write it back only if all succeed."""
        overlay: dict[str, str | tuple[str, ...]] = {}
        done: list[tuple[str, str, ReadValue]] = []
        read_bytes = 0
        try:
            for i, (f, key, value) in enumerate(cmd.ops):
                now = overlay[key] if key in overlay else (
                    self.lists[key] if key in self.lists else self.data.get(key))
                if f == "r":
                    read_bytes += _size(now)
                    if read_bytes > MAX_TXN_READ_BYTES:
                        raise TxnAborted(f"ops[{i}]: the txn reads more than "
                                         f"{MAX_TXN_READ_BYTES} bytes")
                    done.append((f, key, now))
                    continue
                assert value is not None  # KvCommand checked it
                overlay[key] = value if f == "w" else _appended(i, key, now, value)
                done.append((f, key, value))
        except TxnAborted as e:
            return KvResult(ok=False, value=f"txn aborted, nothing applied: {e}")
        for key, new in overlay.items():
            self._write(key, new)
        return KvResult(txn=tuple(done))

    def snapshot(self) -> bytes:
        """Deterministic bytes; sessions in least-recently-used order (it decides expiry)."""
        return json.dumps({"data": dict(sorted(self.data.items())),
                           "lists": dict(sorted(self.lists.items())),
                           "sessions": [[c, s, r.found, r.value, r.ok,
                                         *([r.txn] if r.txn else [])]
                                        for c, (s, r) in self.sessions.items()]},
                          separators=(",", ":")).encode()

    @classmethod
    def restore(cls, blob: bytes, max_sessions: int = DEFAULT_MAX_SESSIONS) -> KvStateMachine:
        raw = json.loads(blob)
        sm = cls(max_sessions)
        sm.data = dict(raw["data"])
        sm.lists = {k: tuple(items) for k, items in raw.get("lists", {}).items()}
        sm.sessions = {c: (s, KvResult(f, v, o, _txn_result(txn[0]) if txn else ()))
                       for c, s, f, v, o, *txn in raw["sessions"]}
        return sm


def _appended(i: int, key: str, now: str | tuple[str, ...] | None,
              value: str) -> tuple[str, ...]:
    if isinstance(now, str):
        raise TxnAborted(f"ops[{i}]: cannot append to {key!r:.80}: it holds a string")
    items = (*(now or ()), value)
    if _size(items) > MAX_VALUE_BYTES:
        raise TxnAborted(f"ops[{i}]: the list at {key!r:.80} would pass {MAX_VALUE_BYTES} "
                         f"bytes")
    return items


def _txn_result(raw: list[list[object]]) -> tuple[tuple[str, str, ReadValue], ...]:
    """A remembered txn result from a snapshot's JSON (lists back into tuples)."""
    return tuple((str(f), str(k), tuple(v) if isinstance(v, list) else v)  # type: ignore[misc]
                 for f, k, v in raw)
