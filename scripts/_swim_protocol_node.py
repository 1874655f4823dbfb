"""One swim-protocol member for scripts/bench_swim_baseline.py (the baseline SWIM library).

Runs with the python of ``.venv-swim-protocol`` (the package is kept out of the project's
own venv), e.g.::

    .venv-swim-protocol/bin/python scripts/_swim_protocol_node.py \\
        --name 127.0.0.1:20001 --peer 127.0.0.1:20000 [--suspect-timeout 5.0 ...]

It builds the member exactly as the package's README and its ``swim-protocol-demo`` do
(``UdpConfig`` -> ``Members`` -> ``Worker`` -> ``UdpTransport``, all entered in an
``AsyncExitStack``) and observes membership through the package's listener API
(``members.listener.on_notify``). Timing settings left out keep the package's defaults.

stdout, one JSON object per line, flushed:

* ``{"ready": true, "t": ..., "name": ..., "pid": ..., "version": ..., "peers": [...],
  "settings": {...}}`` once the transport is bound and the worker runs; ``settings`` are
  read back from the config object, i.e. the effective values.
* ``{"t": ..., "t_seen": ..., "member": "127.0.0.1:20001", "status": "suspect",
  "clock": 7}`` for each status change of another member (``online``, ``suspect``,
  ``offline``; metadata-only changes are not printed). ``t_seen`` is ``time.monotonic()``
  when the listener callback ran; ``t`` is when the package changed the status, from
  ``Member.status_time`` (wall clock) carried over to the monotonic clock — the callback
  runs as a task after the change, so ``t <= t_seen``. CLOCK_MONOTONIC is system-wide on
  Linux, so the parent can compare these with its own ``time.monotonic()``.

Exits with status 0 on SIGTERM or SIGINT. The package's own members start as OFFLINE
without a notification, so the first line about a peer is normally ``online``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from contextlib import AsyncExitStack
from importlib.metadata import version
from typing import Any

# swimprotocol lives only in .venv-swim-protocol; the project's mypy does not see it.
from swimprotocol.members import Member, Members  # type: ignore[import-not-found, unused-ignore]
from swimprotocol.udp import UdpConfig, UdpTransport  # type: ignore[import-not-found, unused-ignore]
from swimprotocol.worker import Worker  # type: ignore[import-not-found, unused-ignore]

# name of the BaseConfig keyword -> type, all optional on the command line
TIMING = {
    "ping_interval": float,
    "ping_timeout": float,
    "ping_req_count": int,
    "ping_req_timeout": float,
    "suspect_timeout": float,
    "sync_interval": float,
    "mtu_size": int,  # UdpConfig
}


class Output:
    """Writes JSON lines to stdout; a closed pipe (parent gone) stops the member."""

    def __init__(self, done: asyncio.Event) -> None:
        self.done = done

    def emit(self, obj: dict[str, Any]) -> None:
        try:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            self.done.set()


class Observer:
    """Listener callback: prints each status change of a non-local member once."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.last: dict[str, str] = {}

    def _emit(self, name: str, status: str, status_time: float, clock: int) -> None:
        now_mono, now_wall = time.monotonic(), time.time()
        t = now_mono - max(0.0, now_wall - status_time)
        self.last[name] = status
        self.out.emit({"t": t, "t_seen": now_mono, "member": name, "status": status,
                       "clock": clock})

    async def __call__(self, member: Member) -> None:
        if member.local:
            return
        name: str = member.name
        current = member.status.name.lower()
        last = self.last.get(name)
        if current == last:
            return  # a metadata change, or a change already printed
        # Two changes between callbacks (e.g. suspect then offline): the snapshot taken
        # before the latest change still tells the one in between.
        prev = member.previous
        prev_status = prev.status.name.lower()
        if prev_status not in (last, current) and not (last is None and prev_status == "offline"):
            self._emit(name, prev_status, prev.status_time, prev.clock)
        self._emit(name, current, member.status_time, member.clock)


def _die_with_parent() -> None:
    """Best effort: get SIGTERM if the benchmark process dies without cleaning up."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            if os.getppid() == 1:
                os.kill(os.getpid(), signal.SIGTERM)


async def run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    overrides = {k: getattr(args, k) for k in TIMING if getattr(args, k) is not None}
    config = UdpConfig(local_name=args.name, peers=args.peer, secret=args.secret, **overrides)
    members = Members(config)
    worker = Worker(config, members)
    transport = UdpTransport(config, worker)
    out = Output(done)
    observer = Observer(out)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(transport)
        await stack.enter_async_context(worker)
        await stack.enter_async_context(members.listener.on_notify(observer))
        out.emit({"ready": True, "t": time.monotonic(), "name": config.local_name,
                  "pid": os.getpid(), "version": version("swim-protocol"),
                  "peers": list(config.peers),
                  "settings": {k: getattr(config, k) for k in TIMING}})
        await done.wait()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="this member's host:port (UDP)")
    parser.add_argument("--peer", action="append", default=[],
                        help="a known member's host:port (repeat; the package wants >= 1)")
    parser.add_argument("--secret", default=None,
                        help="shared signing secret (package default: derived from the MAC)")
    for key, typ in TIMING.items():
        parser.add_argument("--" + key.replace("_", "-"), dest=key, type=typ, default=None,
                            help=f"override {key} (default: the package's)")
    args = parser.parse_args()
    _die_with_parent()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
