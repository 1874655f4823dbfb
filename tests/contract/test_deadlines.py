"""How long a sender waits for a reply: the deadline its core set on the envelope
(SWIM: a Ping's ack counts until the end of its protocol period, an option), else the
one its ``Rpc`` declares (the toy's Forward waits for a commit), else the driver's
default. Both drivers ask ``MessageTable.deadline_ms``; tests/sim/test_targeted_faults.py
shows the simulator honouring it, the SWIM tests the core setting it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from protocols.common.errors import ConfigError
from protocols.common.ids import NodeId
from protocols.contract import Envelope, MessageTable, OneWay, Rpc
from protocols.swim import SPEC as SWIM
from protocols.swim.messages import Ping, PingReq


@dataclass(frozen=True)
class Slow:
    pass


@dataclass(frozen=True)
class Quick:
    pass


@dataclass(frozen=True)
class Note:
    pass


TABLE = MessageTable([Rpc(Slow, str, deadline_ms=3000), Rpc(Quick, str), OneWay(Note)])


def test_the_envelope_then_the_rpc_then_the_driver_decide() -> None:
    assert TABLE.deadline_ms(Quick(), 500) == 500
    assert TABLE.deadline_ms(Slow(), 500) == 3000
    assert TABLE.deadline_ms(Slow(), 500, Envelope(NodeId("n2"), Slow(), deadline_ms=50)) == 50
    assert TABLE.deadline_ms(Quick(), 500, Envelope(NodeId("n2"), Quick())) == 500


def test_a_negative_deadline_is_refused() -> None:
    with pytest.raises(ConfigError, match="deadline_ms must be >= 0"):
        Rpc(Slow, str, deadline_ms=-1)


def test_swim_waits_a_protocol_period_for_a_ping_and_a_ping_req() -> None:
    """SWIM's driver default no longer has to cover a ping-req answered after a probe of
    its own: the core puts its period on the two requests that need it."""
    from protocols.sim import World
    from protocols.swim.sim import ADAPTER

    w = World(ADAPTER, 5, seed=3, options={"probe_interval_ms": 700})
    sent: list[Envelope] = []
    send = w._send

    def spy(src: NodeId, env: Envelope, group: str = "") -> None:
        sent.append(env)
        send(src, env, group)

    w._send = spy  # type: ignore[method-assign]
    w.run_for(3000)  # everyone has joined
    w.crash("n5")  # probes of n5 fail: ping-reqs go out
    w.run_for(6000)
    pings = [e for e in sent if isinstance(e.msg, Ping)]
    reqs = [e for e in sent if isinstance(e.msg, PingReq)]
    assert pings and reqs
    assert {e.deadline_ms for e in pings + reqs} == {700}
    assert all(SWIM.messages.deadline_ms(e.msg, w.rpc_timeout_ms, e) == 700 for e in reqs)
    assert w.rpc_timeout_ms < 700  # the rest keep the short default
