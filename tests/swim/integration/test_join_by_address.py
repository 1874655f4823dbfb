"""Joining by address on real processes, as memberlist does it: a member started by hand
with nothing but one seed's address (its own one-node config: it is no node of the
cluster's config, and the cluster's members have no address for it) joins and is seen
alive by all; restarted on another port, it is found at its new address; killed for
good, it is declared dead and then forgotten after ``reap_ms``. The cluster's own peer
links go through the proxies; the joiner's go straight to the addresses gossip taught."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.ports import PortLease, allocate_ports
from cluster.procs import kill_group, spawn
from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols.swim.client import MembershipClient, View
from protocols.swim.messages import State

Factory = Callable[..., Awaitable[LocalCluster]]
TICK_MS = 50  # SWIM counts in protocol periods (1 s); 6 processes share 2 cores
REAP_MS = 6000


class Joiner:
    """A member nobody configured: its own config names only itself, its options only
    its seeds. Started, killed and restarted by hand, as a user would."""

    def __init__(self, node_id: str, directory: Path, seeds: list[str]) -> None:
        self.node_id = node_id
        self.dir = directory
        self.seeds = seeds
        self.lease = PortLease()
        self.address = ""
        self.proc: Any = None
        self.dir.mkdir(parents=True, exist_ok=True)

    async def start(self) -> None:
        """Start on a port of its own (a new one each time): same data dir, so a new
        life one incarnation above the last."""
        port = allocate_ports(1, self.lease).ports[-1]
        self.address = f"127.0.0.1:{port}"
        config = self.dir / f"{self.node_id}-{port}.json"
        config.write_text(json.dumps({
            "protocol": "swim", "tick_ms": TICK_MS, "rpc_deadline_ms": 500,
            "nodes": {self.node_id: {"address": self.address,
                                     "data_dir": str(self.dir / "data")}},
            "options": {"seeds": self.seeds, "reap_ms": REAP_MS}}))
        self.proc = spawn([sys.executable, "-m", "protocols", "--config", str(config),
                           "--node-id", self.node_id], self.dir / "joiner.log", owned=True)
        await self._wait_serving()

    async def _wait_serving(self) -> None:
        async def serving() -> bool:
            assert self.proc.poll() is None, f"{self.node_id} exited: {self.log_tail()}"
            async with grpc.aio.insecure_channel(self.address) as ch:
                try:
                    reply = await health_pb2_grpc.HealthStub(ch).Check(
                        health_pb2.HealthCheckRequest(), timeout=1.0)
                except grpc.aio.AioRpcError:
                    return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        await wait_until(serving, 30, what=f"{self.node_id} serving",
                         describe=self.log_tail)

    async def kill(self) -> None:
        """SIGKILL: it says nothing more, to anyone."""
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc.pid, signal.SIGKILL)
            await asyncio.to_thread(self.proc.wait)

    def log_tail(self) -> str:
        path = self.dir / "joiner.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-20:]) \
            if path.exists() else "(no log)"


async def views_of(client: MembershipClient, nodes: list[str]) -> dict[str, View]:
    """Every node's view; a node that does not answer fails the test at once."""
    out = await client.views(nodes)
    silent = sorted(n for n, v in out.items() if v is None)
    assert not silent, f"{silent} did not answer"
    return {n: v for n, v in out.items() if v is not None}


# 32 s: tests/swim/paper/test_join_by_address.py and the simulator cover it by default
@pytest.mark.slow
async def test_a_member_joins_by_address_moves_and_is_reaped(cluster: Factory,
                                                             tmp_path: Path) -> None:
    c = await cluster("swim", nodes=5, tick_ms=TICK_MS, options={"reap_ms": REAP_MS})
    members = list(c.ids)
    joiner = Joiner("n6", tmp_path / "n6", seeds=[c.node("n1").address])
    everyone = [*members, "n6"]
    try:
        await joiner.start()
        async with MembershipClient({**c.client_addresses, "n6": joiner.address}) as client:
            incarnation = await _joined(client, everyone, joiner.address)
            await joiner.kill()
            await _seen(client, members, State.DEAD, "n6 dead everywhere", 60)
        old = joiner.address
        await joiner.start()  # another port, the same data dir: a new life
        assert joiner.address != old
        async with MembershipClient({**c.client_addresses, "n6": joiner.address}) as client:
            moved = await _joined(client, everyone, joiner.address)
            assert moved > incarnation, "a new life, above the old one"
            # 2N-1 = 11 periods (§4.3: every member probes every other within them) in
            # which every member pinged n6 at the address gossip taught it: it must never
            # be suspected (a suspicion makes it refute, raising its incarnation)
            await _stays_alive(client, everyone, moved, seconds=12)
            await joiner.kill()
            await _reaped(client, members)
    finally:
        await joiner.kill()
        joiner.lease.release()
        print(f"joiner log: {joiner.dir / 'joiner.log'}")


async def _joined(client: MembershipClient, everyone: list[str], address: str) -> int:
    """Every node sees every node alive, and n6 at ``address``; returns its incarnation."""
    last: dict[str, View] = {}

    async def check() -> bool:
        nonlocal last
        last = await views_of(client, everyone)
        return all(all(v.state(m) == State.ALIVE for m in everyone)
                   and v.addresses.get("n6") == address for v in last.values())

    await wait_until(check, 45, what=f"n6 alive at {address} in every view",
                     describe=lambda: {n: {"not alive": sorted(
                         f"{m}: {v.state(m) or 'unknown'}" for m in everyone
                         if v.state(m) != State.ALIVE), "n6 at": v.addresses.get("n6")}
                         for n, v in last.items()})
    incarnations = {v.members["n6"][1] for v in last.values()}
    assert len(incarnations) == 1, incarnations
    return incarnations.pop()


async def _stays_alive(client: MembershipClient, everyone: list[str], incarnation: int,
                       seconds: float) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        views = await views_of(client, everyone)
        seen = {n: v.members.get("n6") for n, v in views.items()}
        assert all(s == (State.ALIVE, incarnation) for s in seen.values()), \
            f"n6 was suspected at its address (it refuted or is not alive): {seen}"
        await asyncio.sleep(0.5)  # a polling interval, not a synchronisation


async def _seen(client: MembershipClient, members: Sequence[str], state: State, what: str,
                deadline_s: float) -> None:
    last: dict[str, View] = {}

    async def check() -> bool:
        nonlocal last
        last = await views_of(client, members)
        return all(v.state("n6") == state for v in last.values())

    await wait_until(check, deadline_s, what=what,
                     describe=lambda: {n: v.state("n6") for n, v in last.items()})


async def _reaped(client: MembershipClient, members: Sequence[str]) -> None:
    """Each member forgets n6 once it has held it dead for ``reap_ms``, not before: the
    start of the last poll that saw a member hold n6 alive or suspect bounds from below
    when it declared n6 dead, and the end of the first poll that found n6 gone bounds the
    forgetting from above; the two must be at least ``reap_ms`` apart."""
    not_dead_at: dict[str, float] = {}
    gone_at: dict[str, float] = {}

    async def check() -> bool:
        asked = time.monotonic()
        views = await views_of(client, members)
        answered = time.monotonic()
        for n, v in views.items():
            state = v.state("n6")
            if state in (State.ALIVE, State.SUSPECT):
                not_dead_at[n] = asked
            elif state is None and n not in gone_at:
                gone_at[n] = answered
        return len(gone_at) == len(members)

    await wait_until(check, 60 + REAP_MS / 1000, interval_s=0.2,
                     what="n6 forgotten everywhere",
                     describe=lambda: {"gone": sorted(gone_at)})
    early = {n: round(gone_at[n] - not_dead_at[n], 2) for n in members
             if n in not_dead_at and gone_at[n] - not_dead_at[n] < REAP_MS / 1000}
    assert not early, f"forgotten sooner than reap_ms after being declared dead: {early}"
    assert len(not_dead_at) == len(members), "each was seen holding n6 before its death"
