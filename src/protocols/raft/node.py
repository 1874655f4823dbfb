"""Raft's gRPC shell: which dataclass travels as which protobuf message, plus the Kv
service. Everything else (server, health, Admin, ticker, pump, transport, faults) is the
shared ``protocols.runtime.host``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols._pb import kv_pb2_grpc, raft_pb2
from protocols.kv.commands import KvCommand
from protocols.kv.service import SERVICE_NAME, KvServicer
from protocols.raft import SPEC, RaftSpec
from protocols.raft.messages import (
    AppendEntries,
    AppendEntriesReply,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
    TimeoutNowReply,
)
from protocols.runtime.shell import Route

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.host import NodeHost

__all__ = ["SHELL"]

_SERVICE = "protocols.raft.v1.Raft"


class RaftShell:
    name = "raft"
    spec: RaftSpec = SPEC
    routes = (
        Route(_SERVICE, "RequestVote", RequestVote, raft_pb2.RequestVote, RequestVoteReply,
              raft_pb2.RequestVoteReply),
        Route(_SERVICE, "AppendEntries", AppendEntries, raft_pb2.AppendEntries,
              AppendEntriesReply, raft_pb2.AppendEntriesReply),
        Route(_SERVICE, "TimeoutNow", TimeoutNow, raft_pb2.TimeoutNow, TimeoutNowReply,
              raft_pb2.TimeoutNowReply),
    )

    def add_services(self, server: grpc.aio.Server, host: NodeHost) -> list[str]:
        kv_pb2_grpc.add_KvServicer_to_server(KvServicer(host), server)
        return [SERVICE_NAME]

    def bench_command(self, i: int, payload: str) -> KvCommand:
        """Admin.Load proposes puts at the leader (like a library client of PySyncObj)."""
        return KvCommand("put", f"bench{i % 1000}", payload or str(i))


SHELL = RaftShell()
