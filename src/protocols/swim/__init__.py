"""SWIM membership and failure detection (Das, Gupta, Motivala 2002) with Lifeguard.

Read in order: ``messages.py`` (Ping, Ack, PingReq, membership updates) -> ``core.py``
(the protocol period, suspicion, dissemination, anti-entropy) with its rule modules
``dissemination.py``, ``lifeguard.py`` and ``phi.py`` (Cassandra's phi-accrual detector)
-> ``storage.py`` -> ``node.py`` (gRPC plumbing) and ``sim.py`` (the simulator).
"""

from __future__ import annotations

from typing import Any

from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, OneWay, ProtocolSpec, Rpc
from protocols.swim.commands import Incr
from protocols.swim.core import SwimCore
from protocols.swim.messages import (
    Ack,
    DigestAck,
    DigestAck2,
    DigestSyn,
    Gossip,
    Ping,
    PingReq,
    PingReqReply,
    Rumor,
    wire_size,
)
from protocols.swim.options import SwimOptions
from protocols.swim.storage import SwimStorage

__all__ = ["SPEC", "SwimCore", "SwimOptions", "SwimSpec"]


def _gossip_size(g: Gossip) -> int:
    return (sum(map(wire_size, g.members)) + sum(map(wire_size, g.entries))
            + sum(map(wire_size, g.events)))


class SwimSpec(ProtocolSpec):
    name = "swim"
    open_membership = True  # a member joins by contacting a seed's address
    messages = MessageTable((
        Rpc(Ping, Ack),
        Rpc(PingReq, PingReqReply),
        Rpc(DigestSyn, DigestAck),
        OneWay(DigestAck2),
        OneWay(Rumor),
    ))
    options_class = SwimOptions

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = SwimOptions.from_mapping(ctx.options, [ctx.node_id, *ctx.peers])
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = SwimStorage(ctx.fs, ctx.data_dir, ctx.node_id, sync)
        core = SwimCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.recovered,
                        ctx.tick_s, ctx.address, ctx.addresses)
        return NodeParts(core, storage)

    def message_size(self, msg: Any) -> int:
        """Bytes on the wire, estimated (the simulator's counters): gossip as the
        piggyback budget counts it (``wire_size``), full states per member."""
        match msg:
            case Ping(gossip=g) | Ack(gossip=g) | PingReq(gossip=g) | PingReqReply(gossip=g) \
                    | Rumor(gossip=g):
                return 16 + _gossip_size(g)
            # full states: O(N) items, estimated per item (measuring each costs O(N))
            case DigestSyn(members=m, digests=d):
                return 8 + 24 * len(m) + 20 * len(d)
            case DigestAck(members=m, entries=e, wanted=w):
                return 8 + 24 * len(m) + sum(32 + 16 * len(x.meta) for x in e) + 8 * len(w)
            case DigestAck2(entries=e):
                return 8 + sum(32 + 16 * len(x.meta) for x in e)
        return 32

    def bench_command(self, i: int, payload: str) -> Any:
        return Incr(1)


SPEC = SwimSpec()
