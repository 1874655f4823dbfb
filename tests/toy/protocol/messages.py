"""The toy protocol's messages: one of each kind the contract knows.

* ``Replicate`` -> ``Ack``: a request with an immediate reply, sent only once the backup
  made the entry durable (the pump holds the reply until then);
* ``Committed``: one-way, fire-and-forget: how far backups may apply;
* ``Forward`` -> ``Forwarded``: a backup forwards a client's command to the primary, which
  answers with a *deferred* reply once the command is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Ack", "Committed", "Forward", "Forwarded", "Replicate"]


@dataclass(frozen=True, slots=True)
class Replicate:
    index: int
    command: bytes  # a KvCommand, encoded


@dataclass(frozen=True, slots=True)
class Ack:
    index: int


@dataclass(frozen=True, slots=True)
class Committed:
    commit_index: int


@dataclass(frozen=True, slots=True)
class Forward:
    forward_id: int  # the backup's number for this forward
    command: bytes


@dataclass(frozen=True, slots=True)
class Forwarded:
    found: bool = False
    value: str = ""
    ok: bool = True
    error: str = ""  # not empty: refused by the primary, nothing applied
