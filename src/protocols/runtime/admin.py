"""The Admin and Probe services every node process serves (protos/admin.proto).

Admin: the node's status (what its core says of itself, and the process around it), a
closed-loop load for benchmarks, message faults per directed peer, reachability probes,
crash points, graceful shutdown. Probe: pings counted per sender, so tests see exactly
what got through. Admin and health traffic bypass the fault proxies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from protocols._pb import admin_pb2, admin_pb2_grpc
from protocols.common.crashpoints import CrashPoint
from protocols.common.errors import InvalidRequest, NotLeader, ProtocolError
from protocols.common.ids import NodeId
from protocols.runtime import admin_input, membership
from protocols.runtime.errors import abort_with
from protocols.runtime.faults import LinkFaults
from protocols.runtime.peers import SENDER_ID_KEY
from protocols.runtime.transport import PeerUnreachable

if TYPE_CHECKING:
    from protocols.runtime.host import NodeHost

__all__ = ["AdminServicer", "ProbeServicer", "run_load"]

log = logging.getLogger("protocols.host")


def _faults_to_pb(links: list[LinkFaults]) -> list[admin_pb2.LinkFaults]:
    return [admin_pb2.LinkFaults(**{f: getattr(link, f) for f in LinkFaults.__slots__})
            for link in links]


class AdminServicer(admin_pb2_grpc.AdminServicer):
    """Admin: status, message faults, reachability probes, graceful shutdown."""

    def __init__(self, host: NodeHost) -> None:
        self.host = host

    async def Status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        info = self.host.status()
        return admin_pb2.NodeStatus(
            node_id=self.host.node_id,
            protocol=self.host.shell.name,
            role=info.role,
            epoch=info.epoch,
            leader_id=info.leader_id,
            leading=info.leading,
            configured_role=self.host.config.role,
            pid=os.getpid(),
            uptime_s=time.monotonic() - self.host.started_at,
            details=info.details,
            pings_received=self.host.pings_received,
            groups=[_group_status(g, slot) for g, slot in sorted(self.host.slots.items())
                    if g],
        )

    async def Load(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            in_flight, seconds, payload_bytes = admin_input.load(request)
        except InvalidRequest as e:
            await abort_with(context, e)
        make = self.host.shell.spec.bench_command
        if make(0, "") is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED,
                                f"protocol {self.host.shell.name} has no bench command")
            raise AssertionError("abort() returned")
        return await run_load(self.host, make, in_flight, seconds, "x" * payload_bytes)

    async def SetMessageFaults(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:  # every link is checked before any is set: a bad one changes nothing
            links = admin_input.link_faults(request, self.host.config.peers, self.host.node_id)
            current = self.host.faults.set(links, seed=request.seed or None)
        except InvalidRequest as e:
            await abort_with(context, e)
        log.info("node %s message faults: %s", self.host.node_id, current or "none")
        return admin_pb2.SetMessageFaultsReply(links=_faults_to_pb(current))

    async def ProbePeers(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            peers, count, deadline = admin_input.probe(request, self.host.config.peers,
                                                       self.host.node_id)
        except InvalidRequest as e:
            await abort_with(context, e)
        results = await asyncio.gather(
            *(self._probe(NodeId(p), count, deadline) for p in peers)
        )
        return admin_pb2.ProbeReply(peers=results)

    async def _probe(self, peer: NodeId, count: int, deadline: float | None) -> Any:
        result = admin_pb2.PeerProbe(peer=peer, sent=count)
        rtts: list[float] = []
        for seq in range(count):
            started = time.monotonic()
            try:
                await self.host.transport.call(
                    peer, "/protocols.admin.v1.Probe/Ping",
                    admin_pb2.PingRequest(from_id=self.host.node_id, seq=seq),
                    admin_pb2.PingReply, deadline_s=deadline,
                    metadata=((SENDER_ID_KEY, self.host.node_id),),
                )
            except PeerUnreachable as e:
                result.failed += 1
                result.last_error = e.reason
            else:
                result.ok += 1
                rtts.append((time.monotonic() - started) * 1000)
        result.mean_rtt_ms = sum(rtts) / len(rtts) if rtts else 0.0
        return result

    async def Shutdown(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            admin_input.shutdown_grace(request)  # checked; the host's own grace applies
        except InvalidRequest as e:
            await abort_with(context, e)
        asyncio.get_running_loop().call_later(0.05, self.host.request_stop)
        return admin_pb2.ShutdownReply()

    async def PauseDisk(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.duration_ms > admin_input.MAX_FAULT_DELAY_MS * 10:
            await abort_with(context, InvalidRequest(
                f"duration_ms: {request.duration_ms} is over the limit of "
                f"{admin_input.MAX_FAULT_DELAY_MS * 10} ms"))
        self.host.pause_disk(request.duration_ms / 1000)
        log.info("node %s disk paused for %d ms", self.host.node_id, request.duration_ms)
        return admin_pb2.PauseDiskReply()

    async def CreateGroup(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            options = json.loads(request.options_json) if request.options_json else {}
            if not isinstance(options, dict):
                raise InvalidRequest("options_json: expected a JSON object")
            await self.host.create_group(request.group, request.protocol,
                                         list(request.members), options)
        except json.JSONDecodeError as e:
            await abort_with(context, InvalidRequest(f"options_json: not JSON: {e}"))
        except InvalidRequest as e:
            await abort_with(context, e)
        return admin_pb2.GroupReply(groups=sorted(self.host.slots))

    async def RemoveGroup(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            await self.host.remove_group(request.group)
        except InvalidRequest as e:
            await abort_with(context, e)
        return admin_pb2.GroupReply(groups=sorted(self.host.slots))

    async def ArmCrash(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Arm crash points (all checked first: a bad one arms nothing)."""
        try:
            points = [CrashPoint.parse(p) for p in request.points]
            group = None if request.any_group else request.group
            if group is not None and group not in self.host.slots:
                raise InvalidRequest(f"node {self.host.node_id} hosts no group {group!r}; "
                                     f"it hosts {sorted(self.host.slots)}")
        except InvalidRequest as e:
            await abort_with(context, e)
        crash_points = self.host.crash_points
        crash_points.disarm()
        for point in points:
            crash_points.arm(point, group)
        log.info("node %s crash points: %s", self.host.node_id,
                 ", ".join(map(str, points)) or "none")
        return admin_pb2.ArmCrashReply(armed=[str(p) for p in points])


    async def AddPeer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """A node joined the cluster (``protocols.runtime.membership.add_peer``)."""
        try:
            peers = membership.add_peer(self.host, request.node_id, request.address,
                                        request.dial_address, request.role)
        except InvalidRequest as e:
            await abort_with(context, e)
        log.info("node %s: peer %s joined at %s", self.host.node_id, request.node_id,
                 request.address)
        return admin_pb2.PeersReply(peers=peers)

    async def RemovePeer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """A node left the cluster for good (``membership.remove_peer``)."""
        try:
            peers = membership.remove_peer(self.host, request.node_id)
        except InvalidRequest as e:
            await abort_with(context, e)
        log.info("node %s: peer %s left", self.host.node_id, request.node_id)
        return admin_pb2.PeersReply(peers=peers)


    # ------------------------------------------------------------------ step mode
    async def Step(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        stepper = await self._stepper(context)
        try:
            await stepper.step(request.action, request.id, request.cut, request.command)
        except InvalidRequest as e:
            await abort_with(context, e)
        return admin_pb2.StepReply()

    async def StepState(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        stepper = await self._stepper(context)
        return admin_pb2.StepStateReply(
            held=[admin_pb2.HeldMessage(id=i, kind=h.kind, peer=h.peer, method=h.method,
                                        body=h.body, request=h.request)
                  for i, h in sorted(stepper.live_held().items())],
            outstanding=[admin_pb2.HeldMessage(id=i, kind="outstanding", peer=s.dst,
                                               method=s.method, body=s.body)
                         for i, s in sorted(stepper.outstanding.items())],
            writing=stepper.writing(), busy=stepper.busy(), core=stepper.core_encoding(),
            answers=[admin_pb2.StepAnswer(command=i, ok=ok, text=text)
                     for i, (ok, text) in sorted(stepper.answers.items())],
            ticks=stepper.ticks)

    async def _stepper(self, context: grpc.aio.ServicerContext) -> Any:
        if self.host.stepper is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"node {self.host.node_id} is not in step mode (cluster.json "
                                "\"stepped\")")
        return self.host.stepper


def _group_status(group: str, slot: Any) -> Any:
    info = slot.status()
    return admin_pb2.GroupStatus(group=group, protocol=slot.shell.name, role=info.role,
                                 epoch=info.epoch, leader_id=info.leader_id,
                                 leading=info.leading, details=info.details)


async def run_load(host: NodeHost, make: Callable[[int, str], Any], in_flight: int,
                   seconds: float, payload: str) -> Any:
    """Closed loop: ``in_flight`` workers, each submitting the next command when the last
    one answered, until ``seconds`` pass. Returns an admin_pb2.LoadReply."""
    latencies: list[float] = []
    failed = 0
    last_error = ""
    started = time.monotonic()
    end = started + seconds
    counter = iter(range(1 << 62))

    async def worker() -> None:
        nonlocal failed, last_error
        while time.monotonic() < end:
            t = time.monotonic()
            try:
                await host.submit(make(next(counter), payload), timeout_s=max(0.1, end - t + 5))
            except NotLeader as e:
                failed += 1
                last_error = str(e)
                return  # proposals here cannot succeed: the load is for the leader
            except (ProtocolError, TimeoutError) as e:
                failed += 1
                last_error = str(e) or type(e).__name__
                await asyncio.sleep(0.01)
            else:
                latencies.append(time.monotonic() - t)

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    latencies.sort()
    n = len(latencies)
    return admin_pb2.LoadReply(
        ok=n, failed=failed, elapsed_s=time.monotonic() - started, last_error=last_error,
        p50_ms=latencies[n // 2] * 1000 if n else 0.0,
        p99_ms=latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
    )


class ProbeServicer(admin_pb2_grpc.ProbeServicer):
    """Counts pings per sender, so tests can see exactly what got through."""

    def __init__(self, host: NodeHost) -> None:
        self.host = host

    async def Ping(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        src = request.from_id
        self.host.pings_received[src] = self.host.pings_received.get(src, 0) + 1
        return admin_pb2.PingReply(node_id=self.host.node_id, seq=request.seq)
