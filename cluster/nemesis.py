"""The nemesis: one vocabulary to break a ``LocalCluster``, for tests and the CLI.

Connection faults go through the proxy server (Toxiproxy API, one proxy per directed
link). A directed link ``i -> j`` carries i's requests to j and j's replies to i, so
cutting it means "i cannot reach j" while j still reaches i through ``j -> i``. Two ways
to cut:

* ``blackhole`` — a ``timeout`` toxic (timeout 0) on both streams: bytes vanish, the
  connection stays up, RPCs time out (a partition as the network sees it);
* ``refuse`` — the proxy is disabled: live connections are closed, new ones refused
  (a crashed host or a firewall REJECT).

Message faults (drop / duplicate / delay / reorder single RPCs) go through each node's
Admin hook, since a TCP proxy cannot drop one message of a multiplexed HTTP/2 stream.
Process faults (kill -9, restart, pause, resume) go through the runner, and so do nodes
that come and go (``join``: a brand-new node; ``leave``: one removed for good; opt-in
kinds of ``random_schedule``, for protocols whose membership may change: SWIM, the toy).
Targeted faults too (opt-in kinds, drawn from the protocol's spec): ``crash_point`` arms
one crash point on a node (its process exits 137 when it is reached, and ``clear``
restarts it; one that never fired is disarmed), ``hook`` drops one message type on one
link, loses its replies, duplicates or delays it, ``disk_pause`` stops a node's disk.

Every action is logged with wall-clock start and end times (``events``, and JSONL in
``nemesis.jsonl`` in the cluster dir), so a checked history can shade fault intervals.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from protocols._pb import admin_pb2
from protocols.common import quorum
from protocols.common.errors import InvalidRequest
from protocols.sim.nemesis import HOOK_ACTIONS, crash_points, hook_targets

if TYPE_CHECKING:
    from cluster.runner import LocalCluster
    from cluster.toxi import ToxiproxyClient
    from protocols.contract import ProtocolSpec

__all__ = ["CUT_MODES", "Nemesis", "ScheduledFault", "fault_intervals", "random_schedule"]

CUT_MODES = ("blackhole", "refuse")
_CUT_TOXIC = "nemesis_cut"


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    at_s: float
    action: str
    args: tuple[Any, ...]
    duration_s: float


class Nemesis:
    def __init__(self, cluster: LocalCluster) -> None:
        self.c = cluster
        self.events: list[dict[str, Any]] = []
        self._cut: dict[tuple[str, str], str] = {}  # link -> mode
        self._open: dict[str, float] = {}  # fault kind -> start time
        # cuts and heals from concurrent coroutines (a schedule and a test's own faults)
        # must not interleave: one removing a toxic the other is adding fails with 404
        self._links_lock = asyncio.Lock()
        self._armed: dict[str, str] = {}  # node -> the crash point armed there
        self._disks: set[str] = set()  # nodes whose disk is paused

    # ------------------------------------------------------------------ log
    def log_event(self, action: str, **args: Any) -> None:
        event = {"time": time.time(), "action": action, **args}
        self.events.append(event)
        try:
            with open(self.c.dir / "nemesis.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(event, default=str) + "\n")
        except OSError:
            pass

    def intervals(self) -> list[tuple[float, float, str]]:
        """(start, end, label) of every fault, for timelines (end = now if still on).
        The label says which fault it was: "partition n1 | n2,n3 (blackhole)"."""
        now = time.time()
        return [(s, now if e is None else e, label)
                for s, e, label in fault_intervals(self.events)]

    def start_fault(self, fault: str, **args: Any) -> None:
        """Log the start of ``fault`` (its kind, e.g. "partition" or "pause-n2")."""
        self.log_event("start", fault=fault, **args)

    def end_fault(self, fault: str) -> None:
        self.log_event("end", fault=fault)

    # ------------------------------------------------------------------ links
    def _check(self, nodes: Iterable[str]) -> list[str]:
        return [self.c.node(n).node_id for n in nodes]

    async def cut(self, links: Iterable[tuple[str, str]], mode: str = "blackhole") -> None:
        """Cut directed links (src, dst): src can no longer reach dst."""
        if mode not in CUT_MODES:
            raise InvalidRequest(f"unknown cut mode {mode!r}; use one of {', '.join(CUT_MODES)}")
        toxi = self.c._toxi()
        async with self._links_lock:
            await self._cut_links(toxi, links, mode)

    async def _cut_links(self, toxi: ToxiproxyClient, links: Iterable[tuple[str, str]],
                         mode: str) -> None:
        for src, dst in links:
            self._check([src, dst])
            name = f"link_{src}_{dst}"
            if (src, dst) in self._cut:
                continue
            if mode == "refuse":
                await asyncio.to_thread(toxi.set_enabled, name, False)
            else:
                for stream in ("upstream", "downstream"):
                    await asyncio.to_thread(toxi.add_toxic, name, "timeout", stream,
                                            f"{_CUT_TOXIC}_{stream}", 1.0, {"timeout": 0})
            self._cut[(src, dst)] = mode

    async def partition(self, groups: Sequence[Sequence[str]], mode: str = "blackhole") -> None:
        """Traffic flows only within groups; nodes in no group form one more group."""
        listed = [n for g in groups for n in self._check(g)]
        if len(set(listed)) != len(listed):
            raise InvalidRequest(f"a node is in two groups: {groups}")
        rest = [n for n in self.c.ids if n not in listed]
        all_groups = [list(g) for g in groups] + ([rest] if rest else [])
        group_of = {n: i for i, g in enumerate(all_groups) for n in g}
        links = [(s, d) for s in self.c.ids for d in self.c.ids
                 if s != d and group_of[s] != group_of[d]]
        self.start_fault("partition", groups=all_groups, mode=mode)
        await self.cut(links, mode)

    async def partition_one_way(self, src: str, dst: str, mode: str = "blackhole") -> None:
        """``src`` cannot reach ``dst``; ``dst`` still reaches ``src``."""
        self.start_fault("partition-one-way", src=src, dst=dst, mode=mode)
        await self.cut([(src, dst)], mode)

    async def isolate(self, node: str, mode: str = "blackhole") -> None:
        await self.partition([[node]], mode)

    async def partition_halves(self, mode: str = "blackhole", seed: int = 0) -> list[list[str]]:
        """A random majority / minority split."""
        nodes = list(self.c.ids)
        random.Random(seed).shuffle(nodes)
        few: list[str] = sorted(nodes[: quorum.minority(len(nodes))])
        most: list[str] = sorted(nodes[len(few):])
        await self.partition([few, most], mode)
        return [few, most]

    async def partition_ring(self, mode: str = "blackhole") -> None:
        """Each node reaches only its two ring neighbours (overlapping majorities)."""
        n = len(self.c.ids)
        ids = list(self.c.ids)
        near = {(ids[i], ids[(i + k) % n]) for i in range(n) for k in (1, n - 1)}
        links = [(s, d) for s in ids for d in ids if s != d and (s, d) not in near]
        self.start_fault("partition-ring", mode=mode)
        await self.cut(links, mode)

    async def heal(self) -> None:
        """Restore every cut link (connection faults only; see ``clear``)."""
        toxi = self.c._toxi()
        async with self._links_lock:
            await self._heal_links(toxi)
        for kind in ("partition", "partition-one-way", "partition-ring"):
            self.end_fault(kind)

    async def _heal_links(self, toxi: ToxiproxyClient) -> None:
        for (src, dst), mode in sorted(self._cut.items()):
            name = f"link_{src}_{dst}"
            if mode == "refuse":
                await asyncio.to_thread(toxi.set_enabled, name, True)
            else:
                for stream in ("upstream", "downstream"):
                    await asyncio.to_thread(toxi.remove_toxic, name, f"{_CUT_TOXIC}_{stream}")
        self._cut.clear()

    async def links_cut(self) -> dict[tuple[str, str], str]:
        """The links between nodes cut now, link -> mode, read from the proxy server (so
        cuts another process made show too: a test's, a schedule's, ``cluster
        partition``'s): "refuse" if the link's proxy is disabled, "blackhole" if it holds
        the cut toxic."""
        proxies = await asyncio.to_thread(self.c._toxi().list_proxies)
        cut: dict[tuple[str, str], str] = {}
        for src, dst in sorted(self.c.links):
            proxy = proxies.get(f"link_{src}_{dst}")
            if src == "client" or proxy is None:
                continue
            if not proxy.enabled:
                cut[(src, dst)] = "refuse"
            elif any(t.name.startswith(_CUT_TOXIC) for t in proxy.toxics):
                cut[(src, dst)] = "blackhole"
        return cut

    def forget_node(self, node: str) -> None:
        """``node`` left the cluster: its links are gone, so no heal restores them."""
        self._cut = {link: mode for link, mode in self._cut.items() if node not in link}

    # ------------------------------------------------------------------ link toxics
    def _links(self, links: Iterable[tuple[str, str]] | None) -> list[str]:
        if links is None:
            return [f"link_{s}_{d}" for s in self.c.ids for d in self.c.ids if s != d]
        return [f"link_{s}_{d}" for s, d in links]

    async def _toxic(self, fault: str, type_: str, attrs: dict[str, int],
                     links: Iterable[tuple[str, str]] | None, stream: str = "upstream") -> None:
        toxi = self.c._toxi()
        names = self._links(links)
        self.start_fault(fault, links=names, **attrs)
        for name in names:
            await asyncio.to_thread(toxi.add_toxic, name, type_, stream, f"nemesis_{fault}",
                                    1.0, attrs)

    async def latency(self, ms: int, jitter_ms: int = 0,
                      links: Iterable[tuple[str, str]] | None = None) -> None:
        """Delay every request on the links by ms ± jitter (one way)."""
        await self._toxic("latency", "latency", {"latency": ms, "jitter": jitter_ms}, links)

    async def bandwidth(self, rate_kb: int, links: Iterable[tuple[str, str]] | None = None) -> None:
        await self._toxic("bandwidth", "bandwidth", {"rate": rate_kb}, links)

    async def slow(self, average_size: int = 64, delay_us: int = 1000,
                   links: Iterable[tuple[str, str]] | None = None) -> None:
        """Slice data into small pieces with delays between them."""
        await self._toxic("slow", "slicer", {"average_size": average_size, "size_variation": 0,
                                             "delay": delay_us}, links)

    async def reset(self, timeout_ms: int = 0,
                    links: Iterable[tuple[str, str]] | None = None) -> None:
        """Reset connections (RST) on their next data."""
        await self._toxic("reset", "reset_peer", {"timeout": timeout_ms}, links)

    async def clear_toxics(self) -> None:
        """Remove every nemesis toxic except partitions."""
        toxi = self.c._toxi()
        for name in self._links(None):
            for t in await asyncio.to_thread(toxi.list_toxics, name):
                if t.name.startswith("nemesis_") and not t.name.startswith(_CUT_TOXIC):
                    await asyncio.to_thread(toxi.remove_toxic, name, t.name)
        for kind in ("latency", "bandwidth", "slow", "reset"):
            self.end_fault(kind)

    # ------------------------------------------------------------------ message faults
    async def message_faults(self, nodes: Iterable[str] | None = None, seed: int = 0,
                             **rates: float) -> None:
        """Set the Admin message-fault hook on ``nodes`` (default all), for every peer."""
        targets = self._check(nodes) if nodes is not None else list(self.c.ids)
        link = admin_pb2.LinkFaults(peer="*", **rates)  # type: ignore[arg-type]
        self.start_fault("message-faults", nodes=targets, **rates)
        for n in targets:
            await self.c.admin_call(n, "SetMessageFaults", admin_pb2.SetMessageFaultsRequest(
                links=[link] if rates else [], seed=seed + 1))

    async def drop(self, rate: float, nodes: Iterable[str] | None = None, seed: int = 0) -> None:
        await self.message_faults(nodes, seed, drop_rate=rate)

    async def duplicate(self, rate: float, nodes: Iterable[str] | None = None,
                        seed: int = 0) -> None:
        await self.message_faults(nodes, seed, duplicate_rate=rate)

    async def delay(self, min_ms: int, max_ms: int, nodes: Iterable[str] | None = None,
                    seed: int = 0) -> None:
        await self.message_faults(nodes, seed, delay_min_ms=min_ms, delay_max_ms=max_ms)

    async def reorder(self, rate: float, delay_ms: int, nodes: Iterable[str] | None = None,
                      seed: int = 0) -> None:
        await self.message_faults(nodes, seed, reorder_rate=rate, reorder_delay_ms=delay_ms)

    async def unreliable(self, nodes: Iterable[str] | None = None, seed: int = 0) -> None:
        """MIT 6.5840's unreliable network: 10% of requests and of replies lost, 0-27 ms."""
        await self.message_faults(nodes, seed, drop_rate=0.1, drop_reply_rate=0.1,
                                  delay_min_ms=0, delay_max_ms=27)

    async def clear_message_faults(self) -> None:
        for n in self.c.ids:  # a dead node has none: its next life starts without them
            if self.c.running(n) and not self.c.node(n).paused:
                await self.c.admin_call(n, "SetMessageFaults",
                                        admin_pb2.SetMessageFaultsRequest())
        self.end_fault("message-faults")
        self.end_fault("hook")

    # ------------------------------------------------------------------ targeted faults
    async def crash_point(self, node: str, point: str) -> None:
        """Arm ``point`` on ``node`` (``LocalCluster.crash_at``): its process exits (137)
        the moment it is reached, a crashed node ``clear`` restarts. Fault
        ``crash-point-<node>``; ``clear`` logs whether it fired."""
        if not self.c.running(node) or self.c.node(node).paused:
            return  # a schedule drawn in advance may name a node that is gone
        self.start_fault(f"crash-point-{node}", point=point)
        self._armed[node] = point
        await self.c.crash_at(node, point)

    async def hook(self, message: str, src: str, dst: str, action: str,
                   delay_ms: int = 0) -> None:
        """Every ``message`` from ``src`` to ``dst`` is dropped (``action`` "drop"), loses
        its reply ("drop_reply"), is duplicated or delayed by ``delay_ms`` ("delay"), until
        ``clear`` (``LocalCluster.hook``)."""
        if action not in HOOK_ACTIONS:
            raise InvalidRequest(f"hook action {action!r}: expected one of "
                                 f"{', '.join(HOOK_ACTIONS)}")
        if not self.c.running(src) or self.c.node(src).paused:
            return
        self.start_fault("hook", message=message, src=src, dst=dst, effect=action,
                         delay_ms=delay_ms)
        await self.c.hook(message, src, dst, drop=float(action == "drop"),
                          drop_reply=float(action == "drop_reply"),
                          duplicate=float(action == "duplicate"),
                          delay_ms=delay_ms if action == "delay" else 0)

    async def disk_pause(self, node: str, duration_ms: int) -> None:
        """``node``'s disk stops for ``duration_ms`` (``clear`` resumes it earlier)."""
        if not self.c.running(node) or self.c.node(node).paused:
            return
        self.start_fault(f"disk-pause-{node}", ms=duration_ms)
        self._disks.add(node)
        await self.c.pause_disk(node, duration_ms)

    async def _end_crash_points(self) -> list[str]:
        """Log, for each armed crash point, whether it fired (its process is gone: exit
        137) or not (then disarmed); the nodes whose point fired, for ``clear`` to
        restart and to end their faults."""
        fired = []
        for node, point in sorted(self._armed.items()):
            if self.c.running(node):
                try:
                    await self.c.crash_at(node)  # no points: disarm
                except grpc.aio.AioRpcError:
                    if self.c.running(node):
                        raise  # it did not fire: the node failed to answer
            proc = self.c.node(node).proc
            gone = not self.c.running(node)
            self.log_event("crash-point", node=node, point=point, fired=gone,
                           exit_code=proc.returncode if gone and proc is not None else None)
            if gone:
                fired.append(node)
            else:
                self.end_fault(f"crash-point-{node}")
        self._armed.clear()
        return fired

    async def _resume_disks(self) -> None:
        for node in sorted(self._disks):
            if self.c.running(node):
                await self.c.pause_disk(node, 0)
            self.end_fault(f"disk-pause-{node}")
        self._disks.clear()

    def crash_points_fired(self) -> list[dict[str, Any]]:
        """The log's crash points that fired: node, point and its process's exit code."""
        return [e for e in self.events if e["action"] == "crash-point" and e["fired"]]

    # ------------------------------------------------------------------ processes
    # the runner logs these itself, so a demo or the CLI calling it directly is logged too
    async def kill(self, node: str) -> None:
        await self.c.kill(node)

    async def restart(self, node: str) -> None:
        await self.c.restart(node)

    async def pause(self, node: str) -> None:
        self.c.pause(node)

    async def resume(self, node: str) -> None:
        self.c.resume(node)

    async def join(self, role: str = "") -> str:
        """A brand-new node joins (``LocalCluster.add_node``); logged as ``join``."""
        return await self.c.add_node(role=role)

    async def leave(self, node: str) -> None:
        """``node`` leaves for good (``LocalCluster.remove_node``); logged as ``leave``.
        A node already gone, or one of the last two, stays: a schedule drawn in advance
        may name one twice."""
        if node in self.c.ids and len(self.c.ids) > 2:
            await self.c.remove_node(node)

    async def clear(self) -> None:
        """Undo everything: resume, disarm crash points, restart dead nodes (those a
        crash point ended too), heal, clear toxics and faults, resume paused disks."""
        for n in self.c.ids:
            if self.c.node(n).paused:
                await self.resume(n)
        crashed = await self._end_crash_points()
        for n in self.c.ids:
            if not self.c.running(n):
                await self.restart(n)
        for node in crashed:
            self.end_fault(f"crash-point-{node}")
        await self._resume_disks()
        await self.heal()
        await self.clear_toxics()
        await self.clear_message_faults()

    # ------------------------------------------------------------------ schedules
    async def run_schedule(self, schedule: Sequence[ScheduledFault]) -> None:
        """Apply each fault at its time, undo it after its duration; end with clear()."""
        t0 = time.monotonic()
        for fault in schedule:
            await asyncio.sleep(max(0.0, t0 + fault.at_s - time.monotonic()))
            await self._apply(fault)
            await asyncio.sleep(fault.duration_s)
            await self.clear()

    async def _apply(self, fault: ScheduledFault) -> None:
        method = getattr(self, fault.action)
        await method(*fault.args)


def random_schedule(seed: int, nodes: Sequence[str], duration_s: float,
                    kinds: Sequence[str] = ("partition_halves", "isolate", "kill", "pause",
                                            "latency", "unreliable", "partition_one_way"),
                    fault_s: tuple[float, float] = (1.0, 3.0),
                    calm_s: tuple[float, float] = (0.5, 1.5),
                    spec: ProtocolSpec | None = None) -> list[ScheduledFault]:
    """A seeded sequence of faults, one at a time, separated by calm periods. The
    targeted kinds (``crash_point``, ``hook``) draw their points and messages from the
    protocol's ``spec``, which they need."""
    if spec is None and {"crash_point", "hook"} & set(kinds):
        raise InvalidRequest("nemesis kinds crash_point and hook need the protocol's spec "
                             "(random_schedule(..., spec=load_spec(protocol)))")
    rng = random.Random(f"nemesis/{seed}")
    out: list[ScheduledFault] = []
    members = list(nodes)  # a node that left is never named again (joiners never are)
    t = rng.uniform(*calm_s)
    for i in itertools.count():
        duration = rng.uniform(*fault_s)
        if t + duration > duration_s or i > 10_000:
            return out
        kind = rng.choice(list(kinds))
        if kind == "leave" and len(members) <= 2:
            kind = "kill"  # keep two members: a cluster of one has no links to break
        args: tuple[Any, ...] = ()
        if kind in ("isolate", "kill", "pause", "leave"):
            args = (rng.choice(members),)
            if kind == "leave":
                members.remove(args[0])
        elif kind == "partition_one_way":
            src, dst = rng.sample(members, 2)
            args = (src, dst)
        elif kind == "latency":
            args = (rng.choice([20, 50, 100]), 10)
        elif kind == "partition_halves":
            args = ("blackhole", rng.randrange(1 << 30))
        elif kind == "unreliable":
            args = (None, rng.randrange(1 << 30))
        elif kind in ("crash_point", "hook") and spec is not None:
            args = _targeted(rng, kind, spec, members)
        elif kind == "disk_pause":
            args = (rng.choice(members), int(duration * 1000))
        out.append(ScheduledFault(round(t, 3), kind, args, round(duration, 3)))
        t += duration + rng.uniform(*calm_s)
    return out


def _targeted(rng: random.Random, kind: str, spec: ProtocolSpec, nodes: Sequence[str]
              ) -> tuple[Any, ...]:
    """A crash point on a node, or a hook on a link: what the simulator's nemesis draws
    (``protocols.sim.nemesis``), named the same way."""
    if kind == "crash_point":
        return (rng.choice(list(nodes)), rng.choice(crash_points(spec)))
    src, dst = rng.sample(list(nodes), 2)
    message, actions = rng.choice(hook_targets(spec))
    action = rng.choice(actions)
    return (message, src, dst, action, rng.randint(50, 500) if action == "delay" else 0)


def fault_intervals(events: Iterable[dict[str, Any]]
                    ) -> list[tuple[float, float | None, str]]:
    """(start, end, label) of every fault of a nemesis log (``Nemesis.events``, or the
    lines of ``nemesis.jsonl``), in start order; end None: the fault never ended."""
    out: list[tuple[float, float | None, str]] = []
    starts: dict[str, tuple[float, str]] = {}
    for e in events:
        kind = e.get("fault")
        if kind is None:
            continue
        if e["action"] == "start":
            starts[kind] = (e["time"], _label(kind, e))
        elif e["action"] == "end" and kind in starts:
            t, label = starts.pop(kind)
            out.append((t, e["time"], label))
    out += [(t, None, label) for t, label in starts.values()]
    return sorted(out, key=lambda f: (f[0], math.inf if f[1] is None else f[1], f[2]))


def _label(kind: str, event: dict[str, Any]) -> str:
    """A fault's description from its logged arguments."""
    args = {k: v for k, v in event.items() if k not in ("time", "action", "fault")}
    parts = [kind]
    groups = args.pop("groups", None)
    if groups:
        parts.append(" | ".join(",".join(g) for g in groups))
    if "src" in args and "dst" in args:
        parts.append(f"{args.pop('src')} -> {args.pop('dst')}")
    for key in ("node", "nodes"):
        if key in args:
            value = args.pop(key)
            parts.append(",".join(value) if isinstance(value, list | tuple) else str(value))
    links = args.pop("links", None)
    mode = args.pop("mode", None)
    parts += [f"{k}={v}" for k, v in sorted(args.items()) if v not in (None, "", 0)]
    if links:
        parts.append(f"on {len(links)} link{'s' if len(links) != 1 else ''}")
    if mode:
        parts.append(f"({mode})")
    return " ".join(parts)
