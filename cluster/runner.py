"""``LocalCluster``: any protocol's cluster on this machine, with a proxy on every link.

::

    async with LocalCluster("raft", nodes=5, data_dir=tmp) as c:
        await c.nemesis.partition([["n1", "n2"], ["n3", "n4", "n5"]])
        ...

What it starts, in order (DESIGN.md, "Cluster runner"):

1. the proxy server — our ``python -m cluster.toxiproxy`` as a child process by default,
   or an external Toxiproxy when ``toxiproxy_url`` is given;
2. one proxy per directed link ``i -> j`` (named ``link_i_j``: i's requests to j and j's
   replies to i) and one per client link (``client_i``: clients -> node i);
3. one OS process per node (``python -m protocols --config ... --node-id i``) whose
   peer addresses are the link proxies; admin and health traffic goes direct;
4. it waits for every node to be SERVING on the gRPC health service, with a deadline
   and an error naming the node, its exit code and the tail of its log.

With ``tls=True`` (``cluster up --tls``) it first makes a CA and certificates in
``DIR/tls`` (``protocols.runtime.tls``): every node then speaks mutual TLS to its peers
and clients, the proxies carry the TLS bytes untouched, and the runner's own admin and
health calls, like every client, show ``client_tls`` (the client certificate).

Everything is torn down on exit, on error and on cancellation (Ctrl-C): node process
groups, the proxy server (or our proxies on an external one), and the ports. A
``state.json`` in the cluster directory lets other shells drive a running cluster
(``python -m cluster status|partition|kill|...|down``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.nemesis import Nemesis
from cluster.ports import PortLease, allocate_ports
from cluster.procs import find_processes, kill_group, runs, spawn, wait_gone
from cluster.toxi import ToxiproxyClient
from cluster.waiting import wait_until
from protocols._pb import admin_pb2, admin_pb2_grpc
from protocols.common.crashpoints import CrashPoint
from protocols.common.errors import ConfigError, InvalidRequest, UnknownNode
from protocols.common.ids import NodeId, node_ids, validate_node_id
from protocols.contract import check_assignment
from protocols.registry import entry, load_spec
from protocols.runtime.config import cluster_config_from_dict, parse_groups
from protocols.runtime.tls import (
    CertificateAuthority,
    TlsFiles,
    TlsMaterial,
    cluster_tls_to_json,
    issue_cluster_tls,
    open_channel,
)

__all__ = ["ClusterStartError", "LocalCluster", "NodeInfo", "cluster_processes"]

STATE_FILE = "state.json"


class ClusterStartError(RuntimeError):
    """A node or the proxy server did not come up; the message says which and why."""


@dataclass(slots=True)
class NodeInfo:
    node_id: NodeId
    address: str  # direct: admin + health
    client_address: str  # through the client proxy
    data_dir: str
    log_path: str
    pid: int = 0
    paused: bool = False
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def link_name(src: str, dst: str) -> str:
    return f"link_{src}_{dst}"


def client_link_name(node: str) -> str:
    return f"client_{node}"


class LocalCluster:
    """A running cluster (see the module docstring)."""

    def __init__(
        self,
        protocol: str,
        nodes: int = 3,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        toxiproxy_url: str | None = None,
        options: Mapping[str, Any] | None = None,
        tick_ms: float = 10.0,
        rpc_deadline_ms: float = 500.0,
        seed: int = 0,
        owned: bool = True,
        start_deadline_s: float = 30.0,
        direct: bool = False,
        event_log: bool = False,
        tls: bool = False,
        roles: Mapping[str, str] | None = None,
        node_options: Mapping[str, Mapping[str, Any]] | None = None,
        groups: Mapping[str, Mapping[str, Any]] | None = None,
        stepped: Mapping[str, Any] | None = None,
        source: str | os.PathLike[str] | None = None,
    ) -> None:
        """``stepped``: step mode (cluster.json "stepped", ``cluster.replay``): the nodes
        do nothing but what ``Admin.Step`` says. ``source``: the nodes import
        ``protocols`` from this directory (a copy of ``src`` with a bug planted in it)
        instead of the installed one."""
        self.protocol = protocol
        self.stepped = dict(stepped) if stepped is not None else None
        self.source = str(Path(source).resolve()) if source is not None else None
        self.direct = direct  # no proxies: peers and clients connect straight to nodes
        self.event_log = event_log  # nodes write events.<node>.jsonl (space-time diagrams)
        self.tls = tls  # mutual TLS between everyone (certificates in DIR/tls)
        self.client_tls: TlsMaterial | None = None  # what clients show: made by start()
        self.node_tls: dict[NodeId, TlsFiles] = {}
        self.check_protocol(protocol, options or {}, nodes, roles, node_options)
        # each node's configured role and own options (cluster.json nodes.<id>.role/options)
        self.roles: dict[str, str] = {n: r for n, r in (roles or {}).items() if r}
        self.node_options = {n: dict(o) for n, o in (node_options or {}).items()}
        self.ids = node_ids(nodes)
        # more cores per node process: group -> {protocol, members, options} (cluster.json)
        self.groups = self.check_groups(groups or {}, self.ids)
        self.dir = Path(data_dir or tempfile.mkdtemp(prefix=f"cluster-{protocol}-")).resolve()
        self.external_url = toxiproxy_url
        self.options = dict(options or {})
        self.tick_ms = tick_ms
        self.rpc_deadline_ms = rpc_deadline_ms
        self.seed = seed
        self.owned = owned
        self.start_deadline_s = start_deadline_s
        self.nodes: dict[NodeId, NodeInfo] = {}
        self.links: dict[tuple[str, str], str] = {}  # (src, dst) -> proxy listen address
        self.proxy_pid = 0
        self.toxiproxy_url = toxiproxy_url or ""
        self.toxi: ToxiproxyClient | None = None
        self._proxy_proc: subprocess.Popen[bytes] | None = None
        self._lease = PortLease()
        self.nemesis = Nemesis(self)  # it acts on this cluster (it names it for types only)

    @staticmethod
    def check_protocol(protocol: str, options: Mapping[str, Any], nodes: int,
                       roles: Mapping[str, str] | None = None,
                       node_options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """An unknown protocol, a bad option or role fails here, before any process
        starts."""
        if entry(protocol).shell is None:
            raise ConfigError(f"protocol {protocol!r} has no node shell: it runs in the "
                              "simulator only")
        check_assignment(load_spec(protocol), node_ids(nodes), options, roles, node_options)

    @staticmethod
    def check_groups(groups: Mapping[str, Mapping[str, Any]], ids: list[NodeId]
                     ) -> dict[str, dict[str, Any]]:
        """The groups of cores beside the cluster's own protocol, as the cluster file
        holds them (``protocols.runtime.config.parse_groups``), each protocol's shell
        and options checked: ConfigError before any process starts."""
        raw = {g: {"protocol": spec.get("protocol"),
                   "members": list(spec.get("members") or ids),
                   "options": dict(spec.get("options") or {})} for g, spec in groups.items()}
        parsed = parse_groups(raw, {n: "" for n in ids})
        for name, group in parsed.items():
            if entry(group.protocol).shell is None:
                raise ConfigError(f"group {name}: protocol {group.protocol!r} has no node "
                                  "shell")
            load_spec(group.protocol).check_options(group.options, len(group.members))
        return raw

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> LocalCluster:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.shield(self.stop())

    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        n = len(self.ids)
        need = n if self.direct else n + n * (n - 1) + n + (0 if self.external_url else 1)
        allocate_ports(need, self._lease)
        ports = iter(self._lease.ports)
        if self.direct:
            self._direct_links(ports)
        else:
            await self._start_proxy_server(ports)
            await self._create_proxies(ports)
        if self.tls:
            self._issue_certificates()
        self._write_config(ports)
        for node in self.ids:
            self._spawn_node(node)
        self.save_state()
        await asyncio.gather(*(self.wait_healthy(node) for node in self.ids))
        self.nemesis.log_event("cluster-up", nodes=list(self.ids))

    async def _start_proxy_server(self, ports: Any) -> None:
        if self.external_url:
            self.toxi = ToxiproxyClient(self.external_url)
            await asyncio.to_thread(self.toxi.wait_ready, 10.0)
            return
        port = next(ports)
        ready = self.dir / "toxiproxy.ready"
        ready.unlink(missing_ok=True)
        self._proxy_proc = spawn(
            [sys.executable, "-m", "cluster.toxiproxy", "--host", "127.0.0.1", "--port",
             str(port), "--ready-file", str(ready)],
            self.dir / "toxiproxy.log", owned=self.owned)
        self.proxy_pid = self._proxy_proc.pid
        self.toxiproxy_url = f"http://127.0.0.1:{port}"
        self.toxi = ToxiproxyClient(self.toxiproxy_url)
        end = time.monotonic() + self.start_deadline_s
        while not ready.exists():
            if self._proxy_proc.poll() is not None or time.monotonic() > end:
                raise ClusterStartError("the proxy server did not start: "
                                        + _tail(self.dir / "toxiproxy.log"))
            await asyncio.sleep(0.02)

    def _direct_links(self, ports: Any) -> None:
        """Direct mode (``cluster up --direct``): every link is the node's own address.
        For benchmarks and users who want no fault injection; the nemesis then has
        kill/restart/pause/resume and message faults, but no connection faults."""
        self._node_ports = {node: next(ports) for node in self.ids}
        for src in [*self.ids, "client"]:
            for dst in self.ids:
                if src != dst:
                    self.links[(src, dst)] = f"127.0.0.1:{self._node_ports[dst]}"

    async def _create_proxies(self, ports: Any) -> None:
        toxi = self._toxi()
        node_ports = {node: next(ports) for node in self.ids}
        self._node_ports = node_ports
        specs: list[tuple[str, int, int, tuple[str, str]]] = []
        for src in self.ids:
            for dst in self.ids:
                if src != dst:
                    specs.append((link_name(src, dst), next(ports), node_ports[dst], (src, dst)))
        for node in self.ids:
            specs.append((client_link_name(node), next(ports), node_ports[node],
                          ("client", node)))
        for name, port, upstream_port, key in specs:
            await asyncio.to_thread(toxi.create_proxy, name, f"127.0.0.1:{upstream_port}",
                                    f"127.0.0.1:{port}")
            self.links[key] = f"127.0.0.1:{port}"

    def _issue_certificates(self) -> None:
        """A new CA and its certificates in ``DIR/tls``: one per node, one for clients."""
        nodes, client = issue_cluster_tls(self.dir / "tls", self.ids)
        self.node_tls = {NodeId(n): f for n, f in nodes.items()}
        self.client_tls = client.load("the cluster's client certificate")

    def _write_config(self, ports: Any) -> None:
        raw: dict[str, Any] = {
            "protocol": self.protocol,
            "nodes": {n: self._node_entry(n, f"127.0.0.1:{self._node_ports[n]}")
                      for n in self.ids},
            "links": {s: {d: self.links[(s, d)] for d in self.ids if d != s} for s in self.ids},
            "tick_ms": self.tick_ms,
            "rpc_deadline_ms": self.rpc_deadline_ms,
            "seed": self.seed,
            "options": self.options,
            "event_log": self.event_log,
        }
        if self.stepped is not None:
            raw["stepped"] = self.stepped
        if self.groups:
            raw["groups"] = self.groups
        if self.node_tls:
            raw["tls"] = cluster_tls_to_json(self.node_tls)
        cluster_config_from_dict(raw, "cluster")  # validate before any process starts
        (self.dir / "cluster.json").write_text(json.dumps(raw, indent=2))
        for n in self.ids:
            self.nodes[n] = NodeInfo(n, raw["nodes"][n]["address"], self.links[("client", n)],
                                     str(self.dir / n), str(self.dir / f"{n}.log"))

    def _spawn_node(self, node: NodeId) -> None:
        info = self.node(node)
        env = None
        if self.source is not None:  # ahead of the installed package
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                p for p in (self.source, os.environ.get("PYTHONPATH", "")) if p)}
        info.proc = spawn([sys.executable, "-m", "protocols", "--config",
                           str(self.dir / "cluster.json"), "--node-id", node],
                          Path(info.log_path), owned=self.owned, env=env)
        info.pid = info.proc.pid
        info.paused = False

    async def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL), the proxies, and free the ports."""
        for info in self.nodes.values():
            if info.pid:
                kill_group(info.pid, signal.SIGCONT)  # a stopped process cannot exit
                kill_group(info.pid, signal.SIGTERM)
        pids = [i.pid for i in self.nodes.values() if i.pid]
        left = await asyncio.to_thread(wait_gone, pids, 10.0)
        for pid in left:
            kill_group(pid, signal.SIGKILL)
        for info in self.nodes.values():
            if info.proc is not None:
                with contextlib.suppress(Exception):
                    info.proc.wait(timeout=5)
        await self._stop_proxies()
        self._lease.release()
        self.nemesis.log_event("cluster-down")

    async def _stop_proxies(self) -> None:
        if self._proxy_proc is not None:
            self._proxy_proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self._proxy_proc.wait, 10)
            except subprocess.TimeoutExpired:
                kill_group(self._proxy_proc.pid, signal.SIGKILL)
                self._proxy_proc.wait()
        elif self.toxi is not None and self.external_url:
            for name in list(self.links_names()):
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.toxi.delete_proxy, name)

    def links_names(self) -> list[str]:
        return [link_name(s, d) if s != "client" else client_link_name(d)
                for s, d in self.links]

    # ------------------------------------------------------------------ nodes
    def node(self, node_id: str) -> NodeInfo:
        info = self.nodes.get(NodeId(node_id))
        if info is None:
            raise UnknownNode(node_id, list(self.ids))
        return info

    @property
    def client_addresses(self) -> dict[str, str]:
        return {n: i.client_address for n, i in self.nodes.items()}

    @property
    def admin_addresses(self) -> dict[str, str]:
        return {n: i.address for n, i in self.nodes.items()}

    async def wait_healthy(self, node: str, deadline_s: float | None = None) -> None:
        info = self.node(node)
        deadline = self.start_deadline_s if deadline_s is None else deadline_s
        end = time.monotonic() + deadline
        last = "no answer"
        async with self.admin_channel(node) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < end:
                if info.proc is not None and info.proc.poll() is not None:
                    raise ClusterStartError(
                        f"node {node} exited with code {info.proc.returncode}; "
                        f"its log ends:\n{_tail(Path(info.log_path))}")
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                    last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                except grpc.aio.AioRpcError as e:
                    last = e.code().name
                await asyncio.sleep(0.05)
        raise ClusterStartError(f"node {node} not SERVING after {deadline}s (last: {last}); "
                                f"its log ends:\n{_tail(Path(info.log_path))}")

    def running(self, node: str) -> bool:
        """The node's process is alive (stopped by a pause counts). For a cluster attached
        from the state file, the recorded pid must still run this cluster's node: a pid
        the OS has since given to another process is not ours to signal."""
        info = self.node(node)
        if info.proc is not None:
            return info.proc.poll() is None
        return bool(info.pid) and runs(info.pid, str(self.dir / "cluster.json"),
                                       "--node-id", info.node_id)

    async def kill(self, node: str) -> None:
        """SIGKILL the node's process group (crash: state survives only on disk). Logged
        in the nemesis log as the start of fault ``kill-<node>`` (a pause it was in ends:
        its process is gone)."""
        info = self.node(node)
        if info.paused:
            self.nemesis.end_fault(f"pause-{info.node_id}")
        self.nemesis.start_fault(f"kill-{info.node_id}")
        alive = self.running(node)
        if alive:
            kill_group(info.pid, signal.SIGCONT)
            kill_group(info.pid, signal.SIGKILL)
        if info.proc is not None:
            await asyncio.to_thread(info.proc.wait)
        elif alive and (await asyncio.to_thread(wait_gone, [info.pid], 10.0)) != []:
            raise ClusterStartError(f"node {node} (pid {info.pid}) survived SIGKILL for 10 s")
        if info.paused:
            info.paused = False
            self.save_state()

    async def restart(self, node: str) -> None:
        """Start a node again on the same address and data dir: a killed one, or a
        running or paused one, which is killed first (kill -9, then a new process that
        recovers from its disk). Ends fault ``kill-<node>`` in the nemesis log once the
        new process serves."""
        info = self.node(node)
        if self.running(node):
            await self.kill(node)
        self._spawn_node(info.node_id)
        self.save_state()
        await self.wait_healthy(node)
        self.nemesis.end_fault(f"kill-{info.node_id}")

    def pause(self, node: str) -> None:
        """SIGSTOP the node's process group; fault ``pause-<node>`` in the nemesis log."""
        info = self._live(node)
        self.nemesis.start_fault(f"pause-{info.node_id}")
        kill_group(info.pid, signal.SIGSTOP)
        info.paused = True
        self.save_state()

    def resume(self, node: str) -> None:
        """SIGCONT the node's process group; ends fault ``pause-<node>``."""
        info = self._live(node)
        kill_group(info.pid, signal.SIGCONT)
        info.paused = False
        self.save_state()
        self.nemesis.end_fault(f"pause-{info.node_id}")

    def _live(self, node: str) -> NodeInfo:
        info = self.node(node)
        if not self.running(node):
            raise InvalidRequest(f"node {node} is not running (pid {info.pid}); "
                                 f"restart it first")
        return info

    async def status(self, node: str, timeout_s: float = 2.0) -> admin_pb2.NodeStatus | None:
        """Admin.Status of a node, or None if it does not answer in time."""
        async with self.admin_channel(node) as ch:
            try:
                reply: admin_pb2.NodeStatus = await admin_pb2_grpc.AdminStub(ch).Status(
                    admin_pb2.StatusRequest(), timeout=timeout_s)
            except grpc.aio.AioRpcError:
                return None
            return reply

    async def statuses(self, timeout_s: float = 1.0) -> dict[str, admin_pb2.NodeStatus | None]:
        """Admin.Status of every node at once (None: no answer in time)."""
        replies = await asyncio.gather(*(self.status(n, timeout_s) for n in self.ids))
        return dict(zip(self.ids, replies, strict=True))

    async def wait_for_leader(self, among: Sequence[str] | None = None,
                              deadline_s: float = 15.0) -> str:
        """The node that says it leads in the newest epoch among ``among`` (default: all).
        Two leaders in one epoch fail at once; no leader in time fails saying what every
        node said last."""
        group = list(among) if among is not None else list(self.ids)

        async def found() -> str | None:
            seen = await self.statuses()
            leaders = [(st.epoch, n) for n, st in seen.items()
                       if n in group and st is not None and st.leading]
            if not leaders:
                return None
            newest = max(epoch for epoch, _ in leaders)
            top = sorted(n for epoch, n in leaders if epoch == newest)
            if len(top) > 1:
                raise AssertionError(f"two leaders in epoch {newest}: {top}")
            return top[0]

        async def roles() -> dict[str, Any]:
            return {n: (st.role, st.epoch) if st else "no answer"
                    for n, st in (await self.statuses()).items()}

        leader: str = await wait_until(found, deadline_s, describe=roles,
                                       what=f"one leader among {group}")
        return leader

    async def admin_call(self, node: str, method: str, request: Any,
                         timeout_s: float = 10.0) -> Any:
        async with self.admin_channel(node) as ch:
            return await getattr(admin_pb2_grpc.AdminStub(ch), method)(request,
                                                                       timeout=timeout_s)

    # ------------------------------------------------------------------ targeted faults
    async def crash_at(self, node: str, *points: str, group: str | None = None) -> None:
        """Arm crash points on ``node`` (``protocols.common.crashpoints``): its process
        exits as if killed the moment one is reached. Replaces what was armed there.
        A malformed point is refused here (InvalidRequest), before anything is armed."""
        for point in points:
            CrashPoint.parse(point)
        await self.admin_call(node, "ArmCrash", admin_pb2.ArmCrashRequest(
            points=list(points), group=group or "", any_group=group is None))

    async def hook(self, message: str, src: str, dst: str = "*", *, drop: float = 0.0,
                   drop_reply: float = 0.0, duplicate: float = 0.0, delay_ms: int = 0,
                   seed: int = 0) -> None:
        """A message hook: messages of route ``message`` from ``src`` to ``dst`` ("*":
        every peer) are dropped / lose their reply / are duplicated at these rates, or
        delayed. Set on the sender, beside its other message faults;
        ``nemesis.clear_message_faults()`` ends it."""
        link = admin_pb2.LinkFaults(peer=dst, message=message, drop_rate=drop,
                                    drop_reply_rate=drop_reply, duplicate_rate=duplicate,
                                    delay_min_ms=delay_ms, delay_max_ms=delay_ms)
        current = await self.admin_call(src, "SetMessageFaults",
                                        admin_pb2.SetMessageFaultsRequest(seed=seed))
        kept = [f for f in current.links if (f.peer, f.message) != (dst, message)]
        await self.admin_call(src, "SetMessageFaults", admin_pb2.SetMessageFaultsRequest(
            links=[*kept, link], seed=seed))

    async def pause_disk(self, node: str, duration_ms: int) -> None:
        """``node``'s disk stops for ``duration_ms`` (0 resumes it)."""
        await self.admin_call(node, "PauseDisk",
                              admin_pb2.PauseDiskRequest(duration_ms=duration_ms))

    # ------------------------------------------------------------------ groups
    async def create_group(self, group: str, protocol: str,
                           members: Sequence[str] | None = None,
                           options: Mapping[str, Any] | None = None) -> None:
        """Start a group of cores (one of ``protocol`` on each member) while the
        cluster runs; the cluster file records it, so a restarted member recovers it."""
        spec = self.check_groups({group: {"protocol": protocol, "members": members,
                                          "options": options}}, self.ids)[group]
        if group in self.groups:
            raise ConfigError(f"group {group!r} exists already")
        request = admin_pb2.CreateGroupRequest(group=group, protocol=protocol,
                                               members=spec["members"],
                                               options_json=json.dumps(spec["options"]))
        for n in spec["members"]:
            await self.admin_call(n, "CreateGroup", request)
        self.groups[group] = spec
        self._rewrite_groups()

    async def remove_group(self, group: str) -> None:
        spec = self.groups.pop(group, None)
        if spec is None:
            raise ConfigError(f"no group {group!r}; groups: {sorted(self.groups)}")
        self._rewrite_groups()
        for n in spec["members"]:
            if self.running(n):
                await self.admin_call(n, "RemoveGroup", admin_pb2.RemoveGroupRequest(
                    group=group))

    def set_node_options(self, node: str, options: Mapping[str, Any]) -> None:
        """Give ``node`` its own options (over the cluster's), from its next start on
        (``restart``): a fault to inject for a while, such as txnkv's
        ``explicit_commit_delay_ms``. Checked first (ConfigError, nothing changed)."""
        n = self.node(node).node_id
        wanted = {**self.node_options, n: dict(options)}
        check_assignment(load_spec(self.protocol), list(self.ids), self.options, self.roles,
                         wanted)
        self.node_options = wanted
        path = self.dir / "cluster.json"
        raw = json.loads(path.read_text())
        raw["nodes"][n] = self._node_entry(n, raw["nodes"][n]["address"])
        cluster_config_from_dict(raw, str(path))
        path.write_text(json.dumps(raw, indent=2))
        self.save_state()

    def _rewrite_groups(self) -> None:
        path = self.dir / "cluster.json"
        raw = json.loads(path.read_text())
        raw["groups"] = self.groups
        if not self.groups:
            raw.pop("groups")
        cluster_config_from_dict(raw, str(path))
        path.write_text(json.dumps(raw, indent=2))

    def admin_channel(self, node: str) -> grpc.aio.Channel:
        """A channel straight to ``node`` (admin and health: no proxy), with the client
        certificate when the cluster runs with TLS."""
        return open_channel(self.node(node).address, self.client_tls, node)

    def _toxi(self) -> ToxiproxyClient:
        if self.direct:
            raise ConfigError("this cluster runs without proxies (direct mode): connection "
                              "faults need the proxies; message faults, kill, pause work")
        if self.toxi is None:
            raise ClusterStartError("the proxy server is not running")
        return self.toxi

    # ------------------------------------------------------------------ state file
    def save_state(self) -> None:
        state = {
            "protocol": self.protocol,
            "dir": str(self.dir),
            "toxiproxy_url": self.toxiproxy_url,
            "external": bool(self.external_url),
            "direct": self.direct,
            "proxy_pid": self.proxy_pid,
            "nodes": {n: {"address": i.address, "client_address": i.client_address,
                          "data_dir": i.data_dir, "log": i.log_path, "pid": i.pid,
                          "paused": i.paused}
                      for n, i in self.nodes.items()},
            "links": {f"{s}->{d}": a for (s, d), a in self.links.items()},
            "ports": list(self._lease.ports),
            "tls": self.client_tls.files.to_json() if self.client_tls else None,
            "roles": self.roles,
            "node_options": self.node_options,
        }
        tmp = self.dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.dir / STATE_FILE)

    @classmethod
    def attach(cls, directory: str | os.PathLike[str]) -> LocalCluster:
        """A handle on a cluster another process started (for the CLI)."""
        path = Path(directory).resolve() / STATE_FILE
        if not path.exists():
            raise ConfigError(f"no cluster state in {path.parent} (is a cluster up there?)")
        state = json.loads(path.read_text())
        c = cls(state["protocol"], len(state["nodes"]), data_dir=path.parent, owned=False,
                toxiproxy_url=state["toxiproxy_url"], direct=state.get("direct", False))
        c.ids = [NodeId(n) for n in state["nodes"]]  # nodes may have come and gone
        c.roles = dict(state.get("roles", {}))
        c.node_options = dict(state.get("node_options", {}))
        config = c.dir / "cluster.json"  # what the nodes were started with, if still there
        written = json.loads(config.read_text()) if config.exists() else {}
        c.options = written.get("options", {})
        c.groups = dict(written.get("groups", {}))
        if state.get("tls"):
            c.tls = True
            c.client_tls = TlsFiles.from_json(state["tls"]).load(f"cluster state {path}")
        c.external_url = state["toxiproxy_url"] if state["external"] else None
        c.proxy_pid = state["proxy_pid"]
        if not c.direct:
            c.toxi = ToxiproxyClient(state["toxiproxy_url"])
        for n, raw in state["nodes"].items():
            c.nodes[NodeId(n)] = NodeInfo(NodeId(n), raw["address"], raw["client_address"],
                                          raw["data_dir"], raw["log"], raw["pid"],
                                          paused=bool(raw.get("paused", False)))
        for key, address in state["links"].items():
            s, d = key.split("->")
            c.links[(s, d)] = address
        return c

    # ------------------------------------------------------------------ nodes that come and go
    def _node_entry(self, n: str, address: str) -> dict[str, Any]:
        """A node's entry in cluster.json: where it listens, its data, role and options."""
        entry_: dict[str, Any] = {"address": address, "data_dir": str(self.dir / n)}
        if n in self.roles:
            entry_["role"] = self.roles[n]
        if n in self.node_options:
            entry_["options"] = self.node_options[n]
        return entry_

    async def add_node(self, node_id: str | None = None, role: str = "",
                       options: Mapping[str, Any] | None = None) -> NodeId:
        """Start a brand-new node while the cluster runs: a fresh id (the next free
        ``nN`` unless given), its own port and data dir, a proxy on every link to and
        from it and a client proxy, the cluster file and state file rewritten (so
        ``status``, ``kill``, ``down`` and restarts see it). The running members learn it
        first (``Admin.AddPeer``: their peer lists, address books and cores), so they
        accept its first messages; a member that is down or paused reads it from the
        cluster file when it restarts. A bad id, role or option is a ConfigError and
        changes nothing. Logged as ``join`` in the nemesis log (and the node's event log,
        where its lane starts)."""
        n = validate_node_id(node_id) if node_id else self._fresh_id()
        if n in self.nodes:
            raise ConfigError(f"node {n} is already in the cluster")
        roles = {**self.roles, n: role} if role else dict(self.roles)
        per_node = {**self.node_options, n: dict(options)} if options else self.node_options
        check_assignment(load_spec(self.protocol), [*self.ids, n], self.options, roles,
                         per_node)
        peers = list(self.ids)
        first = len(self._lease.ports)
        allocate_ports(1 if self.direct else 2 + 2 * len(peers), self._lease)
        ports = iter(self._lease.ports[first:])
        address = f"127.0.0.1:{next(ports)}"
        await self._links_of(n, address, peers, ports)
        self.roles, self.node_options = roles, per_node
        self._rewrite_config(n, address)
        self.ids.append(n)
        self.nodes[n] = NodeInfo(n, address, self.links[("client", n)], str(self.dir / n),
                                 str(self.dir / f"{n}.log"))
        self.save_state()
        for p in self._reachable(peers):
            await self.admin_call(p, "AddPeer", admin_pb2.AddPeerRequest(
                node_id=n, address=address, dial_address=self.links[(p, n)], role=role))
        self._log_membership(n, "join")
        self._spawn_node(n)
        self.save_state()
        await self.wait_healthy(n)
        return n

    async def remove_node(self, node: str) -> None:
        """Take a node out of the running cluster for good: its process stopped (SIGTERM,
        SIGKILL after 10 s), its proxies deleted, its data dir discarded, the cluster and
        state files rewritten, and every running member told (``Admin.RemovePeer``).
        Logged as ``leave`` (its lane in the space-time diagram ends there)."""
        info = self.node(node)
        n = info.node_id
        if len(self.ids) == 1:
            raise InvalidRequest(f"node {n} is the last node of the cluster")
        if self.running(n):
            kill_group(info.pid, signal.SIGCONT)
            kill_group(info.pid, signal.SIGTERM)
            if await asyncio.to_thread(wait_gone, [info.pid], 10.0):
                kill_group(info.pid, signal.SIGKILL)
            if info.proc is not None:
                await asyncio.to_thread(info.proc.wait)
        self._log_membership(n, "leave")
        for key in [k for k in self.links if n in k]:
            del self.links[key]
            if not self.direct:
                name = link_name(*key) if key[0] != "client" else client_link_name(n)
                await asyncio.to_thread(self._toxi().delete_proxy, name)
        self.nemesis.forget_node(n)
        self.ids.remove(n)
        del self.nodes[n]
        self.roles.pop(n, None)
        self.node_options.pop(n, None)
        self._rewrite_config(n, None)
        self.save_state()
        shutil.rmtree(info.data_dir, ignore_errors=True)
        for p in self._reachable(self.ids):
            await self.admin_call(p, "RemovePeer", admin_pb2.RemovePeerRequest(node_id=n))

    def _fresh_id(self) -> NodeId:
        """The next ``nN`` no node of this cluster has, nor had (its data dir exists)."""
        k = len(self.ids) + 1
        while NodeId(f"n{k}") in self.nodes or (self.dir / f"n{k}").exists():
            k += 1
        return NodeId(f"n{k}")

    def _reachable(self, nodes: Sequence[str]) -> list[str]:
        """The nodes an admin call reaches now: running and not paused (the others read
        the cluster file when they restart)."""
        return [p for p in nodes if self.running(p) and not self.node(p).paused]

    async def _links_of(self, n: NodeId, address: str, peers: list[NodeId],
                        ports: Any) -> None:
        """The links to and from a new node (its proxies), and its client link."""
        if self.direct:
            for p in peers:
                self.links[(n, p)] = self.nodes[p].address
                self.links[(p, n)] = address
            self.links[("client", n)] = address
            return
        toxi = self._toxi()
        for src, dst, upstream in [*((n, p, self.nodes[p].address) for p in peers),
                                   *((p, n, address) for p in peers), ("client", n, address)]:
            listen = f"127.0.0.1:{next(ports)}"
            name = link_name(src, dst) if src != "client" else client_link_name(dst)
            await asyncio.to_thread(toxi.create_proxy, name, upstream, listen)
            self.links[(src, dst)] = listen

    def _rewrite_config(self, n: NodeId, address: str | None) -> None:
        """cluster.json with node ``n`` added (at ``address``) or, with None, removed."""
        path = self.dir / "cluster.json"
        raw = json.loads(path.read_text())
        if address is None:
            raw["nodes"].pop(n, None)
            raw["links"].pop(n, None)
            for table in raw["links"].values():
                table.pop(n, None)
            raw.get("tls", {}).get("nodes", {}).pop(n, None)
            # its cores in other groups are gone with it: each group's cluster-file
            # membership loses it (a group's running cores keep their own view of their
            # members, as a protocol's membership is its own; a restart reads the file)
            for name, group in list(self.groups.items()):
                group["members"] = [m for m in group["members"] if m != n]
                if not group["members"]:
                    del self.groups[name]
            if self.groups:
                raw["groups"] = self.groups
            else:
                raw.pop("groups", None)
        else:
            raw["nodes"][n] = self._node_entry(n, address)
            raw["links"][n] = {p: self.links[(n, p)] for p in self.ids}
            for p in self.ids:
                raw["links"].setdefault(p, {})[n] = self.links[(p, n)]
            if "tls" in raw:  # the cluster's CA signs the newcomer's certificate
                files = CertificateAuthority.load(self.dir / "tls").issue(
                    n, self.dir / "tls", server=True)
                raw["tls"]["nodes"][n] = {"cert": files.cert, "key": files.key}
        cluster_config_from_dict(raw, "cluster")
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(raw, indent=2))
        os.replace(tmp, path)

    def _log_membership(self, n: str, kind: str) -> None:
        """A node joined or left: in the nemesis log, and in its own event log (where
        the space-time diagram starts or ends its lane)."""
        self.nemesis.log_event(kind, node=n)
        if self.event_log or (self.dir / f"events.{n}.jsonl").exists():
            with open(self.dir / f"events.{n}.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps({"kind": kind, "t": time.time(), "node": n}) + "\n")

    def leftover_processes(self) -> list[int]:
        """Every live node or proxy-server process of this cluster, found through the OS."""
        return cluster_processes(self.dir)


def cluster_processes(directory: Path) -> list[int]:
    """Node processes (``--config DIR/cluster.json``) and the embedded proxy server
    (``--ready-file DIR/toxiproxy.ready``) of the cluster in ``directory``."""
    d = Path(directory).resolve()
    return sorted(set(find_processes(str(d / "cluster.json")))
                  | set(find_processes(str(d / "toxiproxy.ready"))))


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
