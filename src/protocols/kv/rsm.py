"""The replicated state machine every log-based protocol shares (course chapters 29-30).

Raft's log and Multi-Paxos' slots both end the same way: commands are decided in order,
each replica applies them to the same deterministic KV state machine, and the replica
that took the client's request answers it once its command is applied. That part is
written once, here:

* ``proposals``: which client request waits on which log index (slot), and the *token*
  of what was proposed there (Raft: the term of the entry; Paxos: the command). If a
  different decision fills that slot, the request is answered ``Unavailable``: it may
  still be decided elsewhere, and the client retries with the same session sequence
  number, which the state machine applies at most once (Raft thesis §6.3);
* ``apply``: apply the command decided at a slot and answer whoever waits on it;
* ``abandon``: a leader that steps down answers everything still waiting;
* ``KV_BINDING``: how the simulator's KV workload reads a protocol's answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from protocols.common.errors import (
    InvalidRequest,
    NotLeader,
    ProtocolError,
    SessionExpired,
    Unavailable,
)
from protocols.contract import Answer
from protocols.kv.commands import KvCommand, KvResult
from protocols.kv.state_machine import DEFAULT_MAX_SESSIONS, KvStateMachine

__all__ = ["KV_BINDING", "KvBinding", "ReplicatedKv", "ReplicatedMachine"]


class ReplicatedMachine(Protocol):
    """What a log (Raft's) drives: the state machine plus the requests waiting on slots.
    ``ReplicatedKv`` is one; a composed system brings its own (``protocols.txnkv``'s
    range). ``apply`` and ``settle`` answer whoever waits on the slot."""

    serves: str  # the command type(s) it takes, for an error message

    @property
    def state_machine(self) -> Any: ...

    def accepts(self, command: Any) -> bool: ...

    def propose(self, slot: int, token: Any, request_id: Any, decoded: Any = None) -> None: ...

    def apply(self, slot: int, token: Any, command: bytes, answers: list[Answer]) -> Any: ...

    def settle(self, slot: int, token: Any, result: Any, answers: list[Answer]) -> None: ...

    def abandon(self, leader_hint: str | None, answers: list[Answer]) -> None: ...

    def read(self, key: str) -> Any: ...

    def snapshot(self) -> bytes: ...

    def restore(self, blob: bytes) -> None: ...


class ReplicatedKv:
    """One replica's KV state machine plus the client requests waiting on its log."""

    serves = "KvCommand"

    def __init__(self, state_machine: KvStateMachine | None = None,
                 max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        self.max_sessions = max_sessions
        self.state_machine = state_machine or KvStateMachine(max_sessions)
        # slot -> (request id, token, the command proposed if the proposer has it decoded)
        self.proposals: dict[int, tuple[Any, Any, KvCommand | None]] = {}

    @staticmethod
    def accepts(command: Any) -> bool:
        return isinstance(command, KvCommand)

    @staticmethod
    def command_of(command: Any) -> KvCommand:
        """The client's command, or InvalidRequest (nothing changes)."""
        if not isinstance(command, KvCommand):
            raise InvalidRequest(f"a KV store serves KvCommand, not {type(command).__name__}")
        return command

    def propose(self, slot: int, token: Any, request_id: Any,
                decoded: KvCommand | None = None) -> None:
        """``request_id`` waits for the command proposed at ``slot`` under ``token``
        (``decoded``: that command as the client sent it, if the proposer has it)."""
        self.proposals[slot] = (request_id, token, decoded)

    def apply(self, slot: int, token: Any, command: bytes, answers: list[Answer]
              ) -> KvResult | SessionExpired:
        """Apply the KV command decided at ``slot``; answer the request waiting on it.
        What we proposed there under the same token is that very command (Raft: same
        index and term, same entry, §5.3), so its decoded form is used as it is."""
        waiting = self.proposals.get(slot)
        decoded = waiting[2] if waiting is not None and waiting[1] == token else None
        if decoded is None:
            decoded = KvCommand.decode(command)
        result = self.state_machine.apply(decoded)
        self.settle(slot, token, result, answers)
        return result

    def settle(self, slot: int, token: Any, result: Any, answers: list[Answer]) -> None:
        """``slot`` was decided with ``token``: answer its waiting request, if any, with
        ``result`` if it is what was proposed there, else as not decided here."""
        waiting = self.proposals.pop(slot, None)
        if waiting is None:
            return
        request_id, proposed, _ = waiting
        if proposed == token and isinstance(result, ProtocolError):
            answers.append(Answer(request_id, error=result))
        elif proposed == token:
            answers.append(Answer(request_id, result))
        else:
            answers.append(Answer(request_id, error=Unavailable(
                "leadership lost before the proposal was decided")))

    def abandon(self, leader_hint: str | None, answers: list[Answer]) -> None:
        """Leadership lost: what is still waiting may yet be decided under the next
        leader, so its outcome is unknown to us."""
        for request_id, _, _ in self.proposals.values():
            answers.append(Answer(request_id, error=Unavailable(
                f"leadership lost before the proposal was decided (leader hint: "
                f"{leader_hint})")))
        self.proposals.clear()

    def read(self, key: str) -> KvResult:
        return self.state_machine.read(key)

    def snapshot(self) -> bytes:
        return self.state_machine.snapshot()

    def restore(self, blob: bytes) -> None:
        self.state_machine = KvStateMachine.restore(blob, self.max_sessions)


class KvBinding:
    """How the simulator's KV workload (``protocols.sim.workload``) talks to a protocol
    that serves ``KvCommand``s through ``ReplicatedKv``."""

    def register_command(self, client_id: str) -> KvCommand:
        return KvCommand("register", "", client_id=client_id)

    def kv_command(self, f: str, key: str, value: Any, client_id: str, seq: int) -> KvCommand:
        if f == "txn":  # value: the micro-ops [[f, k, v], ...]
            return KvCommand("txn", "", client_id=client_id, seq=seq,
                             ops=tuple(tuple(op) for op in value))
        if f == "cas":
            expected, new = value
            return KvCommand("cas", key, new, expected, client_id, seq)
        return KvCommand(f, key, value or "", None, client_id, seq)  # type: ignore[arg-type]

    def kv_outcome(self, f: str, answer: Answer) -> tuple[str, Any, str | None]:
        if isinstance(answer.error, NotLeader):
            return "redirect", None, answer.error.leader_hint
        if isinstance(answer.error, SessionExpired):  # earlier attempts: unknown
            return "expired", None, str(answer.error)
        if isinstance(answer.error, Unavailable):  # refused: try again, it changed nothing
            return ("redirect", None, None) if answer.error.refused else \
                ("retry", None, str(answer.error))
        if answer.error is not None:
            return "fail", None, str(answer.error)
        result = answer.result
        if not isinstance(result, KvResult):
            raise AssertionError(f"a KV answer must be a KvResult, not {result!r}")
        if not result.ok and f == "txn":  # aborted: nothing of it was applied
            return "fail", None, result.value
        return "ok", _RESULTS[f](result), None


_RESULTS: dict[str, Callable[[KvResult], Any]] = {
    "get": lambda r: r.value if r.found else None,
    "cas": lambda r: r.ok,
    "put": lambda r: None,
    "register": lambda r: None,
    "delete": lambda r: r.found,
    # a txn's micro-ops as the history records them: [f, k, v], a list read as a list
    "txn": lambda r: [[f, k, list(v) if isinstance(v, tuple) else v] for f, k, v in r.txn],
}

KV_BINDING = KvBinding()
