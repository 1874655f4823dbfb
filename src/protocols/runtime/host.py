"""The shared node shell: one asyncio gRPC server hosting a node's protocol cores.

This is DESIGN.md's "thin asyncio shell". It owns no protocol logic; it turns the world
into core inputs and core outputs into the world, split by concern:

* ``host`` (this module): the process's life — recover each core from its storage,
  start the server, tick, stop on SIGTERM/SIGINT (exit 0) or on a bug (exit 4) or a
  failed disk (exit 3); SIGKILL is survivable by design (state is recovered from disk);
* ``slot``: one core and what serves it in the process — its ``Pump`` (persist -> send
  -> apply -> answer, writes scheduled with group commit), its ``Inbox``, its clients;
* ``peers``: peer messages arriving on the stream (or a unary call), to the right core;
* ``transport``: messages leaving, one stream per peer process, deadlines, faults;
* ``admin``: the Admin and Probe services; ``crashpoints``: targeted crashes.

A process hosts one core per group (``slots``): the cluster's protocol as group "" and,
for composed systems, more (DESIGN.md, "Composed systems"). It also serves the standard
gRPC health service (SERVING only once everything is up) and server reflection (so
``grpcurl`` works).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from protocols._pb import admin_pb2_grpc
from protocols.common.errors import (
    ConfigError,
    InvalidRequest,
    ProtocolError,
    StorageError,
    Timeout,
    Unavailable,
)
from protocols.common.fs import OsFileSystem
from protocols.common.ids import NodeId
from protocols.contract import Core, NodeContext, NodeStatus, Pump, Storage
from protocols.runtime.admin import AdminServicer, ProbeServicer
from protocols.runtime.config import NodeConfig, parse_address
from protocols.runtime.crashpoints import CrashPoints
from protocols.runtime.errors import abort_with
from protocols.runtime.eventlog import EventLog
from protocols.runtime.faults import MessageFaults
from protocols.runtime.malformed import RefuseMalformed
from protocols.runtime.peers import GROUP_KEY, SENDER_ID_KEY, PeerServer, metadata
from protocols.runtime.shell import ProtocolShell
from protocols.runtime.slot import CoreSlot
from protocols.runtime.tls import server_credentials
from protocols.runtime.transport import SERVER_OPTIONS, Transport

if TYPE_CHECKING:
    from protocols.runtime.stepper import Stepper

__all__ = ["DEFAULT_GROUP", "SENDER_ID_KEY", "NodeHost", "StartupError"]

log = logging.getLogger("protocols.host")

DEFAULT_GROUP = ""  # the cluster's own protocol: the one core every node process hosts


class StartupError(ProtocolError):
    """The node could not start (port in use, data dir locked, bad storage)."""


class NodeHost:
    """Runs one node: ``await NodeHost(config, shell).run()`` until SIGTERM or Shutdown."""

    def __init__(self, config: NodeConfig, shell: ProtocolShell, *,
                 inline_writes: bool = True,
                 shells: Callable[[str], ProtocolShell] | None = None,
                 models: Callable[[str, str, str], Any] | None = None) -> None:
        """``inline_writes=False`` puts every WAL write on the I/O thread (tests that
        hold a write open use it; see ``CoreSlot._persist``). ``shells`` finds the shell
        of a protocol by name, for the groups the node hosts besides its own protocol
        (``config.groups``, ``Admin.CreateGroup``). ``models`` finds an explorer model
        by (protocol, name, size), for step mode (``config.stepped``)."""
        self.config = config
        self.shell = shell
        self._shells = shells
        self.node_id = config.node_id
        self.faults = MessageFaults(config.node_id, config.seed)
        self.crash_points = CrashPoints(config.node_id)
        # mutual TLS (protocols.runtime.tls): a missing or bad file is a ConfigError now
        self.tls = config.tls.load(f"node {config.node_id}") if config.tls else None
        self.transport = Transport(config.node_id, config.peers, config.rpc_deadline_s,
                                   self.faults, tls=self.tls)
        self.sender_metadata = ((SENDER_ID_KEY, str(config.node_id)),)
        self.open_membership = shell.spec.open_membership
        # a peer's listening address -> what this node dials to reach it (its link's proxy,
        # when the runner set one up): an address a core learned is dialed the same way
        self._dial = {config.addresses[p]: config.peers[p] for p in config.peers
                      if p in config.addresses}
        self.slots: dict[str, CoreSlot] = {}
        self.disk_running = asyncio.Event()  # cleared while the disk is paused
        self.disk_running.set()
        self._disk_resume: asyncio.TimerHandle | None = None
        self._pump_tasks: dict[str, asyncio.Task[None]] = {}
        self._served: set[str] = set()  # protocols whose services the server has
        self.peer_server = PeerServer(self)
        self.started_at = time.monotonic()
        self.pings_received: dict[str, int] = {}
        self._inline_writes = inline_writes
        self._stop = asyncio.Event()
        self._health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._lock_fd = -1
        self._fatal: Exception | None = None  # a bug in a core stops the node
        self._halted = False  # a core failed or the node is stopping: no input, no output
        self._tasks: asyncio.TaskGroup | None = None
        self.events: EventLog | None = None  # with the cluster's event_log on
        self.base_fs = OsFileSystem()
        self.stepper: Stepper | None = None  # step mode (protocols.runtime.stepper)
        if config.stepped is not None:
            self.stepper = self._stepper(config, models)

    def _stepper(self, config: NodeConfig, models: Callable[[str, str, str], Any] | None
                 ) -> Stepper:
        from protocols.runtime.stepper import Stepper

        stepped = config.stepped
        assert stepped is not None
        if models is None:
            raise ConfigError(f"node {self.node_id}: step mode needs the explorer's models")
        if config.groups:
            raise ConfigError(f"node {self.node_id}: step mode runs one core, not groups")
        adapter = models(self.shell.name, stepped.model, stepped.size)
        return Stepper(self, stepped, adapter.commands, adapter.ignore)

    # ------------------------------------------------------------------ the default core
    @property
    def main(self) -> CoreSlot:
        """The slot of the cluster's own protocol (group "")."""
        return self.slots[DEFAULT_GROUP]

    @property
    def core(self) -> Core:
        return self.main.core

    @property
    def pump(self) -> Pump:
        return self.main.pump

    @property
    def storage(self) -> Storage:
        return self.main.storage

    @property
    def failed(self) -> bool:
        """A core raised something other than InvalidRequest: the node is stopping."""
        return self._fatal is not None

    def peer_ids(self) -> set[str]:
        return set(self.config.peers)

    def dial_address(self, address: str) -> str:
        """What this node dials to reach a peer listening at ``address`` (its proxy)."""
        return self._dial.get(address, address)

    def route(self, address: str, dial: str | None) -> None:
        """A peer listening at ``address`` is reached by dialing ``dial`` (its link's
        proxy) from now on; None forgets it (the peer left)."""
        if dial is None:
            self._dial.pop(address, None)
        else:
            self._dial[address] = dial

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> int:
        """Start, serve until asked to stop, stop gracefully. Returns the exit code."""
        self._recover()
        try:
            await self._start_server()  # StartupError: python -m protocols exits 2
        except BaseException:
            await self._shutdown()
            raise
        code = 0
        try:
            self._install_signal_handlers()
            async with asyncio.TaskGroup() as tg:
                self._tasks = tg
                for group, slot in self.slots.items():
                    self._pump_tasks[group] = tg.create_task(slot.pump_loop())
                if self.stepper is None:  # in step mode a tick is a step
                    tg.create_task(self._ticker())
                await self._set_serving(True)
                log.info("node %s (%s) serving on %s", self.node_id, self.shell.name,
                         self.config.address)
                await self._stop.wait()
                raise _Stopping()
        except* _Stopping:
            pass
        except* (StorageError, OSError) as group:
            # fail-stop: a write that may not have reached the disk must not be answered
            error = group.exceptions[0]
            log.critical("node %s: storage failed, stopping: %s", self.node_id, error)
            with contextlib.suppress(OSError):  # stderr may sit on the failing disk
                print(f"error: node {self.node_id}: storage failed: {error}", file=sys.stderr)
            code = 3
        except* Exception as group:  # the ticker or a pump: a bug in a core
            self.core_failed(group.exceptions[0])
        finally:
            self._tasks = None
            await self._shutdown()
        if self._fatal is not None and code == 0:
            print(f"error: node {self.node_id}: internal error, stopped: "
                  f"{type(self._fatal).__name__}: {self._fatal}", file=sys.stderr)
            code = 4
        return code

    def request_stop(self) -> None:
        self._stop.set()

    def core_failed(self, error: Exception) -> None:
        """A core raised something other than InvalidRequest: a bug. Its state can no
        longer be trusted, so the node stops (fail-stop) rather than answer anyone."""
        self._halted = True
        for slot in self.slots.values():
            slot.halted = True  # its state can no longer be trusted: step it no more
        if self._fatal is None:
            log.critical("node %s: a core failed, stopping", self.node_id, exc_info=error)
            self._fatal = error
        self.request_stop()

    def _recover(self) -> None:
        data_dir = self.config.data_dir or f"/tmp/protocols-{self.node_id}-{os.getpid()}"
        OsFileSystem().makedirs(data_dir)  # durably: fsynced in its parent
        self._lock_data_dir(data_dir)
        if self.config.event_log:
            self.events = EventLog(self.node_id, self.config.event_log_path)
        self.add_group(DEFAULT_GROUP, self.shell, data_dir, self.config.options)
        for name, group in sorted(self.config.groups.items()):
            self.add_group(name, self.shell_of(group.protocol), self.group_dir(name),
                           group.options, group.members)

    def shell_of(self, protocol: str) -> ProtocolShell:
        if protocol == self.shell.name:
            return self.shell
        if self._shells is None:
            raise ConfigError(f"node {self.node_id} cannot host protocol {protocol!r}: it "
                              "was started without a way to find other protocols' shells")
        return self._shells(protocol)

    def group_dir(self, group: str) -> str:
        """Where the core of ``group`` keeps its state: its own directory."""
        base = self.config.data_dir or f"/tmp/protocols-{self.node_id}-{os.getpid()}"
        return os.path.join(base, "groups", group)

    def add_group(self, group: str, shell: ProtocolShell, data_dir: str,
                  options: Any, members: Sequence[str] | None = None) -> CoreSlot:
        """Build the core of ``group`` from what its storage in ``data_dir`` holds; its
        peers are the other ``members`` (every peer process by default). The node's
        configured role is its role in the cluster's own group."""
        OsFileSystem().makedirs(data_dir)
        peers = sorted(self.config.peers if members is None
                       else (m for m in members if m != self.node_id))
        own = group == DEFAULT_GROUP
        # seeded per node, group and incarnation (NodeContext): a process start is a new
        # life, and a node on a wiped disk must not draw what a past life drew (vkv's ids)
        rng = random.Random(f"{self.config.seed}/{self.node_id}/{group}/"
                            f"{os.urandom(8).hex()}")
        fs: Any = self.base_fs
        clock: Callable[[], float] = time.monotonic
        if self.stepper is not None:  # as the explorer's cores have them
            rng, clock, fs = self.stepper.random, self.stepper.clock, self.stepper.fs
        try:
            parts = shell.spec.create_node(NodeContext(
                self.node_id, tuple(NodeId(p) for p in peers), fs, data_dir,
                rng, clock, options, self.config.tick_s, self.config.address,
                {p: a for p, a in self.config.addresses.items() if p in peers},
                self.config.role if own else "", dict(self.config.roles) if own else {}))
        except StorageError as e:
            raise StartupError(f"node {self.node_id}: cannot recover from {data_dir}: {e}") from e
        slot = CoreSlot(self, group, shell, parts.core, parts.storage,
                        inline_writes=self._inline_writes)
        self.slots[group] = slot
        if self._tasks is not None:  # the node runs: the new core's pump starts now
            self._pump_tasks[group] = self._tasks.create_task(slot.pump_loop())
        return slot

    async def create_group(self, group: str, protocol: str, members: Sequence[str],
                           options: Mapping[str, Any]) -> CoreSlot:
        """A group created while the node runs (``Admin.CreateGroup``): every input is
        checked before anything changes; its services are served from now on."""
        if not group or group in self.slots:
            raise InvalidRequest(f"group {group!r} is empty or already hosted here")
        if self.node_id not in members:
            raise InvalidRequest(f"group {group}: node {self.node_id} is not among its "
                                 f"members {sorted(members)}")
        strangers = sorted(set(members) - set(self.config.peers) - {self.node_id})
        if strangers:
            raise InvalidRequest(f"group {group}: {strangers} are not peers of "
                                 f"{self.node_id} ({sorted(self.config.peers)})")
        try:
            shell = self.shell_of(protocol)
            shell.spec.check_options(options, len(members))
        except ConfigError as e:
            raise InvalidRequest(f"group {group}: {e}") from None
        slot = self.add_group(group, shell, self.group_dir(group), options, members)
        self._serve(shell, self._server)
        log.info("node %s hosts group %s (%s) with %s", self.node_id, group, protocol,
                 sorted(members))
        return slot

    async def remove_group(self, group: str) -> None:
        """Stop the core of ``group`` and destroy its state (a removed replica is
        garbage-collected, as CockroachDB does): its messages are refused from now on."""
        slot = self.slots.get(group)
        if slot is None or group == DEFAULT_GROUP:
            raise InvalidRequest(f"node {self.node_id} hosts no group {group!r} to remove"
                                 if slot is None else "the cluster's own group stays")
        del self.slots[group]
        slot.halted = True
        task = self._pump_tasks.pop(group, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.get_running_loop().run_in_executor(None, slot.close)
        shutil.rmtree(self.group_dir(group), ignore_errors=True)
        log.info("node %s removed group %s", self.node_id, group)

    def _lock_data_dir(self, data_dir: str) -> None:
        """Two processes on one data dir would corrupt it: refuse the second."""
        fd = os.open(os.path.join(data_dir, "LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StartupError(f"node {self.node_id}: data dir {data_dir} is in use by "
                               "another process") from None
        self._lock_fd = fd

    async def _start_server(self) -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        ours: Any = RefuseMalformed(server)  # undecodable requests: INVALID_ARGUMENT
        admin_pb2_grpc.add_AdminServicer_to_server(AdminServicer(self), ours)
        admin_pb2_grpc.add_ProbeServicer_to_server(ProbeServicer(self), ours)
        names = ["protocols.admin.v1.Admin", "protocols.admin.v1.Probe",
                 self.peer_server.add_stream(server)]
        for slot in self.slots.values():
            names += self._serve(slot.shell, ours)
        self._service_names = sorted(set(names))
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        host, port = parse_address(self.config.address, f"node {self.node_id} address")
        try:
            bound = (server.add_secure_port(f"{host}:{port}", server_credentials(self.tls))
                     if self.tls else server.add_insecure_port(f"{host}:{port}"))
        except RuntimeError as e:
            raise StartupError(f"node {self.node_id}: cannot listen on {self.config.address}: "
                               f"{e} (is the port in use?)") from None
        if bound == 0:
            raise StartupError(f"node {self.node_id}: cannot listen on {self.config.address} "
                               "(port in use?)")
        await server.start()
        self._server = server

    def _serve(self, shell: ProtocolShell, server: Any) -> list[str]:
        """Serve a protocol's routes and client services, once per protocol (groups of
        one protocol share them: a call names its group in ``x-group`` metadata)."""
        if shell.name in self._served or server is None:
            return []
        self._served.add(shell.name)
        if server is self._server:  # the node runs already: same checks on what comes in
            server = RefuseMalformed(server)
        return [*self.peer_server.add_routes(server, list(shell.routes)),
                *shell.add_services(server, self)]

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def _set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ["", *self._service_names]:
            await self._health.set(name, status)

    async def _shutdown(self) -> None:
        log.info("node %s stopping", self.node_id)
        self._halted = True  # what arrives from now on (replies, timers) reaches no core
        for slot in self.slots.values():
            slot.halted = True
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._set_serving(False)
            await self._server.stop(grace=1.0)
        await self.transport.close()
        for slot in self.slots.values():
            slot.close()  # a write in progress completes before its storage closes
        if self.events is not None:
            self.events.close()
            self.events = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # ------------------------------------------------------------------ time
    async def _ticker(self) -> None:
        """Tick every core every tick_s, all in the same loop turn (so what they send to
        one peer process leaves together: the transport coalesces it into one frame).
        Missed ticks are skipped, not burst: a stalled event loop must not look like many
        elapsed heartbeat intervals at once."""
        loop = asyncio.get_running_loop()
        tick_s = self.config.tick_s
        next_at = loop.time() + tick_s
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            for slot in list(self.slots.values()):
                slot.tick()
            if self.events is not None:
                st = self.main.status()
                self.events.state(st.role, st.epoch)
                self.events.maybe_flush()
            next_at = max(next_at + tick_s, loop.time())

    def pause_disk(self, duration_s: float) -> None:
        """The disk stops for ``duration_s`` (0: resumes now): every core's writes wait."""
        if self._disk_resume is not None:
            self._disk_resume.cancel()
            self._disk_resume = None
        if duration_s <= 0:
            self.disk_running.set()
            return
        self.disk_running.clear()
        self._disk_resume = asyncio.get_running_loop().call_later(duration_s,
                                                                  self.disk_running.set)

    def drain_all(self) -> None:
        """Step every core's pump (after a batch of inputs from the network)."""
        for slot in list(self.slots.values()):
            slot.drain()

    # ------------------------------------------------------------------ clients
    async def submit(self, command: Any, timeout_s: float | None = None,
                     group: str = DEFAULT_GROUP) -> Any:
        """Hand a client command to a core (the cluster's own by default) and wait for
        its answer."""
        if self._halted:
            raise Unavailable(f"node {self.node_id} is stopping")
        slot = self.slots.get(group)
        if slot is None:
            raise Unavailable(f"node {self.node_id} hosts no group {group!r}")
        return await slot.submit(command, timeout_s)

    async def submit_for_rpc(self, context: grpc.aio.ServicerContext,
                             build: Any, default_deadline_s: float) -> Any:
        """What a client-facing servicer does with one request: build the command (a
        malformed request raises InvalidRequest and changes nothing), submit it within
        the caller's deadline to the group its metadata names (``x-group``; the
        cluster's own protocol by default), and end the RPC with the mapped status on
        any error."""
        try:
            command = build()
            remaining = context.time_remaining()
            timeout = default_deadline_s if remaining is None else max(0.0, remaining - 0.01)
            group = metadata(context).get(GROUP_KEY, DEFAULT_GROUP)
            return await self.submit(command, timeout_s=timeout, group=group)
        except TimeoutError:
            await abort_with(context, Timeout("no answer before the deadline; the request "
                                              "may still take effect"))
        except ProtocolError as e:
            await abort_with(context, e)
        raise AssertionError("abort_with returned")

    def status(self) -> NodeStatus:
        return self.main.status()


class _Stopping(Exception):
    """Raised inside the task group to cancel every node task on stop."""


