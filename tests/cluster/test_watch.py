"""``cluster status --watch`` (issue #37): the live table of a real 3-node Raft cluster
under load (roles, the leader, commit/applied, the links cut, ops/s between refreshes),
a killed node shown as down, Ctrl-C ending the watch on a terminal with exit 0 (one
cluster for all three: it is most of the time); and the pieces the table is made of
(rates, cut cells, the argument checks)."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cluster.__main__ import main
from cluster.watch import Rates, _cut_cell
from protocols.kv.client import KvClient


def tables(out: str) -> list[dict[str, list[str]]]:
    """Each printed table as node -> the words of its row."""
    found: list[dict[str, list[str]]] = []
    for line in out.splitlines():
        if re.search(r"refresh \d+", line):
            found.append({})
        elif found and re.match(r"n\d+ ", line):
            found[-1][line.split()[0]] = line.split()
    return found


async def writes(c: Any, stop: asyncio.Event, workers: int = 4) -> int:
    """Puts from ``workers`` clients until ``stop``; how many were acknowledged."""
    done = 0

    async def worker(i: int) -> None:
        nonlocal done
        async with KvClient(c.client_addresses, deadline_s=20) as kv:
            seq = 0
            while not stop.is_set():
                await kv.put(f"k{i}", str(seq))
                seq, done = seq + 1, done + 1

    await asyncio.gather(*(worker(i) for i in range(workers)))
    return done


async def watch_out(capsys: pytest.CaptureFixture[str], c: Any, *args: str) -> str:
    """``python -m cluster status --watch ARGS`` run in this process, on its own thread
    and event loop (the test's loop goes on driving the load meanwhile)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["--dir", str(c.dir), "status", "--watch", *args])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


async def test_the_watch_of_a_live_cluster_a_killed_node_and_ctrl_c(
        cluster: Callable[..., Awaitable[Any]], capsys: pytest.CaptureFixture[str]) -> None:
    c = await cluster("raft", nodes=3)
    leader = await c.wait_for_leader()
    stop = asyncio.Event()
    load = asyncio.create_task(writes(c, stop))
    try:
        out = await watch_out(capsys, c, "--count", "2", "--interval", "0.2")
    finally:
        stop.set()
        assert await load > 0
    first, second = tables(out)
    assert set(first) == set(second) == {"n1", "n2", "n3"}, out
    for n, row in second.items():
        assert row[1] == ("leader" if n == leader else "follower"), out
        assert row[3] == leader, out  # every node names the leader
        assert row[5] == "n1,n2,n3", out  # the voters
        assert first[n][-1] == "…" and re.fullmatch(r"[\d,]+\.\d", row[-1]), out
    assert float(second[leader][-1].replace(",", "")) > 0, f"no ops/s under load:\n{out}"
    assert "ops/s: log entries applied (last_applied)" in out, out

    victim = next(n for n in ("n1", "n2", "n3") if n != leader)
    await c.nemesis.partition_one_way(leader, victim)
    await c.kill(victim)
    (after,) = tables(await watch_out(capsys, c, "--count", "1"))
    assert after[victim][1:] == ["down", "←", leader], after
    assert ["→", victim] == after[leader][6:8], after

    # on a terminal the table is redrawn in place; Ctrl-C ends it: exit 0, no traceback
    code, shown = await asyncio.to_thread(ctrl_c_on_a_terminal, c.dir)
    assert code == 0 and "Traceback" not in shown, shown
    assert "\x1b[" in shown and shown.count("refresh") >= 2, shown  # redrawn: live


def ctrl_c_on_a_terminal(directory: Path) -> tuple[int, str]:
    """``status --watch`` on a terminal until two tables were drawn, then Ctrl-C
    (SIGINT): its exit status and what the terminal got."""
    terminal, side = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cluster", "--dir", str(directory),
                             "status", "--watch", "--interval", "0.1"],
                            stdin=side, stdout=side, stderr=side)
    os.close(side)
    try:
        seen = read_until(terminal, lambda b: b.count(b"refresh") >= 2, deadline_s=30)
        proc.send_signal(signal.SIGINT)
        seen += read_until(terminal, lambda b: False, deadline_s=30)
        return proc.wait(timeout=30), seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(terminal)


def read_until(fd: int, done: Callable[[bytes], bool], deadline_s: float) -> bytes:
    """What the terminal shows until ``done`` says so, it closes, or the deadline."""
    out = b""
    end = time.monotonic() + deadline_s
    while not done(out) and time.monotonic() < end:
        if not select.select([fd], [], [], 0.2)[0]:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child exited: its terminal is gone
            break
        if not chunk:
            break
        out += chunk
    return out


def test_ops_per_second_between_two_refreshes() -> None:
    rates = Rates()
    assert rates.update("n1", 10.0, 100) is None  # the first refresh: nothing to compare
    assert rates.update("n1", 10.5, 150) == 100.0
    assert rates.update("n1", 11.0, 20) is None  # restarted: counts from its disk again
    assert rates.update("n1", 12.0, 30) == 10.0
    assert rates.update("n1", 13.0, None) is None  # down: no rate
    assert rates.update("n1", 14.0, 40) is None  # and back: a new start


def test_a_node_s_cut_links() -> None:
    cuts = {("n1", "n2"): "blackhole", ("n2", "n1"): "blackhole",
            ("n1", "n3"): "blackhole", ("n4", "n1"): "refuse"}
    assert _cut_cell("n1", cuts) == "↔ n2 → n3 ← n4 (refuse)"
    assert _cut_cell("n3", cuts) == "← n1"
    assert _cut_cell("n5", cuts) == ""
    assert _cut_cell("n1", None) == "?"  # the proxy server did not answer


@pytest.mark.parametrize(("args", "error"), [
    (["--count", "2"], "--interval and --count go with --watch"),
    (["--watch", "--interval", "0"], "--interval must be more than 0 seconds, not 0"),
    (["--watch", "--count", "0"], "--count must be at least 1, not 0"),
])
def test_bad_watch_arguments_are_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
        error: str) -> None:
    assert main(["--dir", str(tmp_path), "status", *args]) == 2
    assert capsys.readouterr().out.strip() == f"error: {error}"
