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
"""

from __future__ import annotations

import json

from protocols.common.errors import SessionExpired
from protocols.kv.commands import KvCommand, KvResult

__all__ = ["DEFAULT_MAX_SESSIONS", "KvStateMachine"]

DEFAULT_MAX_SESSIONS = 10_000


_DONE = KvResult()  # a put's result (frozen, so one instance serves every put)


class KvStateMachine:
    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        self.data: dict[str, str] = {}
        # client -> (last seq applied, its result), least recently used first
        self.sessions: dict[str, tuple[int, KvResult]] = {}
        self.max_sessions = max_sessions

    def read(self, key: str) -> KvResult:
        """A read served outside the log (ReadIndex): no session bookkeeping."""
        value = self.data.get(key)
        return KvResult(found=value is not None, value=value or "")

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
            self.data[cmd.key] = cmd.value
            return _DONE
        current = self.data.get(cmd.key)
        match cmd.op:
            case "get":
                return KvResult(found=current is not None, value=current or "")
            case "cas":
                holds = current is None if cmd.expected is None else current == cmd.expected
                if holds:
                    self.data[cmd.key] = cmd.value
                return KvResult(found=current is not None, value=current or "", ok=holds)
            case "delete":
                self.data.pop(cmd.key, None)
                return KvResult(found=current is not None)
        raise AssertionError(f"unreachable: {cmd.op}")

    def snapshot(self) -> bytes:
        """Deterministic bytes; sessions in least-recently-used order (it decides expiry)."""
        return json.dumps({"data": dict(sorted(self.data.items())),
                           "sessions": [[c, s, r.found, r.value, r.ok]
                                        for c, (s, r) in self.sessions.items()]},
                          separators=(",", ":")).encode()

    @classmethod
    def restore(cls, blob: bytes, max_sessions: int = DEFAULT_MAX_SESSIONS) -> KvStateMachine:
        raw = json.loads(blob)
        sm = cls(max_sessions)
        sm.data = dict(raw["data"])
        sm.sessions = {c: (s, KvResult(f, v, o)) for c, s, f, v, o in raw["sessions"]}
        return sm
