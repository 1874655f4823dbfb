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
"""

from __future__ import annotations

import json

from protocols.kv.commands import KvCommand, KvResult

__all__ = ["KvStateMachine"]


class KvStateMachine:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.sessions: dict[str, tuple[int, KvResult]] = {}

    def read(self, key: str) -> KvResult:
        """A read served outside the log (ReadIndex): no session bookkeeping."""
        value = self.data.get(key)
        return KvResult(found=value is not None, value=value or "")

    def apply(self, cmd: KvCommand) -> KvResult:
        if cmd.client_id:
            last = self.sessions.get(cmd.client_id)
            if last is not None and cmd.seq <= last[0]:
                return last[1]  # a retry of something already applied
        result = self._execute(cmd)
        if cmd.client_id:
            self.sessions[cmd.client_id] = (cmd.seq, result)
        return result

    def _execute(self, cmd: KvCommand) -> KvResult:
        current = self.data.get(cmd.key)
        before = KvResult(found=current is not None, value=current or "")
        match cmd.op:
            case "get":
                return before
            case "put":
                self.data[cmd.key] = cmd.value
                return KvResult()
            case "cas":
                holds = current is None if cmd.expected is None else current == cmd.expected
                if holds:
                    self.data[cmd.key] = cmd.value
                return KvResult(found=before.found, value=before.value, ok=holds)
            case "delete":
                self.data.pop(cmd.key, None)
                return KvResult(found=before.found)
        raise AssertionError(f"unreachable: {cmd.op}")

    def snapshot(self) -> bytes:
        return json.dumps({"data": self.data,
                           "sessions": {c: [s, r.found, r.value, r.ok]
                                        for c, (s, r) in self.sessions.items()}},
                          sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def restore(cls, blob: bytes) -> KvStateMachine:
        raw = json.loads(blob)
        sm = cls()
        sm.data = dict(raw["data"])
        sm.sessions = {c: (s, KvResult(f, v, o)) for c, (s, f, v, o) in raw["sessions"].items()}
        return sm
