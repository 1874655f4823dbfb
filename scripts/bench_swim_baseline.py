"""Baseline for the SWIM benchmark: failure detection of the PyPI package ``swim-protocol``.

``swim-protocol`` (Ian Good's asyncio SWIM, module ``swimprotocol``) is installed into its
own virtualenv, ``.venv-swim-protocol`` at the repository root, so that it cannot disturb
the project's pinned dependencies (``ensure_swim_protocol()`` creates it on first use).
Each member runs as a separate process, ``scripts/_swim_protocol_node.py``, with that
venv's python; it prints a JSON line per membership status change it observes through the
package's listener API, with ``time.monotonic()`` timestamps.

``measure_swim_protocol(nodes, runs)``: for each run, start ``nodes`` members on free
loopback UDP ports, wired the way the package's README/demo wires them (every member names
the first one as its peer, the first names the second: the package wants at least one peer
per member and finds the rest by gossip), wait until every member reports every other
``online``, let the cluster run ``settle_s`` more seconds, ``kill -9`` the last member
(never the seed), and time, for each survivor, how long until it reports the victim
``suspect`` and ``offline`` (the package's word for dead; there is no other state after it).

The package's failure-detection settings (``swimprotocol.config.BaseConfig``), all
overridable as keyword arguments: ping_interval=1.0 s (one random member probed per
interval), ping_timeout=0.3 s, ping_req_count=1 (indirect probes), ping_req_timeout=0.9 s,
suspect_timeout=5.0 s (suspect -> offline), sync_interval=0.5 s (gossip to one random
member per interval); and UdpConfig's mtu_size=1500. The effective values are read back
from the members and returned with the figures.

Run alone: ``python scripts/bench_swim_baseline.py --nodes 3 --runs 3`` prints a JSON
summary on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cluster.ports import PortLease, allocate_ports

__all__ = ["DEFAULT_SETTINGS", "SWIM_PROTOCOL_VERSION", "ensure_swim_protocol",
           "measure_swim_protocol"]

SWIM_PROTOCOL_VERSION = "0.6.3"  # newest on PyPI when this was written; pinned
ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-swim-protocol"
NODE_SCRIPT = Path(__file__).resolve().parent / "_swim_protocol_node.py"

#: swim-protocol 0.6.3's defaults (BaseConfig / UdpConfig keyword arguments).
DEFAULT_SETTINGS: dict[str, float | int] = {
    "ping_interval": 1.0,
    "ping_timeout": 0.3,
    "ping_req_count": 1,
    "ping_req_timeout": 0.9,
    "suspect_timeout": 5.0,
    "sync_interval": 0.5,
    "mtu_size": 1500,
}

CONVERGE_DEADLINE_BASE_S = 30.0  # plus 2 s per member: start-up and gossip to full views
STOP_GRACE_S = 3.0  # SIGTERM, then SIGKILL to the process group


def _log(msg: str) -> None:
    print(f"swim-protocol baseline: {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- install
def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _installed() -> bool:
    return _venv_python().exists() and any(
        VENV.glob(f"lib/python*/site-packages/swim_protocol-{SWIM_PROTOCOL_VERSION}.dist-info"))


def ensure_swim_protocol() -> Path:
    """Return the python of ``.venv-swim-protocol``, creating the venv and installing
    ``swim-protocol==SWIM_PROTOCOL_VERSION`` into it first if that is missing.

    Idempotent and safe to call from parallel processes (a lock file in the temp dir).
    Prints one line to stderr when it installs.
    """
    if _installed():
        return _venv_python()
    lock_path = Path(tempfile.gettempdir()) / "protocols-venv-swim-protocol.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if _installed():
            return _venv_python()
        print(f"installing swim-protocol=={SWIM_PROTOCOL_VERSION} into {VENV}",
              file=sys.stderr, flush=True)
        steps = []
        if not _venv_python().exists() or subprocess.run(
                [str(_venv_python()), "-c", ""], capture_output=True).returncode != 0:
            steps.append([sys.executable, "-m", "venv", "--clear", str(VENV)])
        steps.append([str(_venv_python()), "-m", "pip", "install", "--quiet",
                      "--disable-pip-version-check", f"swim-protocol=={SWIM_PROTOCOL_VERSION}"])
        for cmd in steps:
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed (rc={done.returncode}):\n"
                                   f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
        if not _installed():
            raise RuntimeError(f"swim-protocol=={SWIM_PROTOCOL_VERSION} did not install "
                               f"into {VENV}")
    return _venv_python()


# ----------------------------------------------------------------------------- members
@dataclass
class _Member:
    name: str
    proc: subprocess.Popen[str]
    stderr: IO[str]
    ready: dict[str, Any] | None = None
    exited: bool = False
    view: dict[str, str] = field(default_factory=dict)  # member -> last status reported


def _udp_bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _allocate(n: int) -> PortLease:
    """``n`` ports free for both TCP and UDP (the package binds both, with SO_REUSEPORT),
    held (flock) for the run so that parallel benchmarks and tests do not take them."""
    for _ in range(20):
        lease = allocate_ports(n)
        if all(_udp_bindable(p) for p in lease.ports):
            return lease
        lease.release()
    raise RuntimeError(f"could not find {n} ports free for both TCP and UDP")


def _reader(idx: int, stream: IO[str], out: queue.Queue[tuple[int, dict[str, Any] | None]]
            ) -> None:
    for line in stream:
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = {"garbage": line}
        if isinstance(obj, dict):
            out.put((idx, obj))
    out.put((idx, None))


def _kill_group(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _stop_all(members: list[_Member]) -> None:
    """SIGTERM every member's process group, SIGKILL what is left after a grace period;
    always reaps every process."""
    for m in members:
        if m.proc.poll() is None:
            _kill_group(m.proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for m in members:
        with contextlib.suppress(subprocess.TimeoutExpired):
            m.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    for m in members:
        # the member's group may hold nothing else, but kill it anyway: start_new_session
        # made each member the leader of its own group
        _kill_group(m.proc, signal.SIGKILL)
        m.proc.wait()
        for f in (m.proc.stdout, m.stderr):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()


def _stderr_tail(m: _Member, chars: int = 1500) -> str:
    with contextlib.suppress(OSError):
        m.stderr.flush()
        m.stderr.seek(0)
        return m.stderr.read()[-chars:]
    return ""


def _stats(values: dict[str, float | None]) -> dict[str, Any]:
    got = [v for v in values.values() if v is not None]
    return {"median_s": statistics.median(got) if got else None,
            "max_s": max(got) if got else None,
            "min_s": min(got) if got else None,
            "missing": len(values) - len(got),
            "per_member_s": values}


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} s"


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


# ----------------------------------------------------------------------------- one run
def _one_run(python: Path, nodes: int, run: int, settle_s: float,
             settings: dict[str, Any]) -> dict[str, Any]:
    lease = _allocate(nodes)
    names = [f"127.0.0.1:{p}" for p in lease.ports]
    events: queue.Queue[tuple[int, dict[str, Any] | None]] = queue.Queue()
    members: list[_Member] = []
    threads: list[threading.Thread] = []
    flag_args: list[str] = []
    for key, value in settings.items():
        flag_args += ["--" + key.replace("_", "-"), str(value)]
    try:
        t_start = time.monotonic()
        for i, name in enumerate(names):
            # the demo's wiring: everyone names the seed; the seed names the next member
            peers = [names[1]] if i == 0 else [names[0]]
            # closed by _stop_all (in the finally below), with the member's stdout
            err = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
            cmd = [str(python), "-u", str(NODE_SCRIPT), "--name", name,
                   *(a for p in peers for a in ("--peer", p)), *flag_args]
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err, text=True, start_new_session=True)
            members.append(_Member(name, proc, err))
            assert proc.stdout is not None
            th = threading.Thread(target=_reader, args=(i, proc.stdout, events), daemon=True,
                                  name=f"swim-reader-{i}")
            th.start()
            threads.append(th)
        _log(f"run {run}: started {nodes} members on {names[0]}..; waiting for full views")

        # log of every status report: (t, observer index, member, status)
        reports: list[tuple[float, int, str, str]] = []

        def pump(timeout: float) -> None:
            """Apply the events that arrive within ``timeout`` seconds (at least one wait)."""
            try:
                idx, obj = events.get(timeout=max(0.0, timeout))
            except queue.Empty:
                return
            while True:
                m = members[idx]
                if obj is None:
                    m.exited = True
                elif obj.get("ready"):
                    m.ready = obj
                elif "status" in obj:
                    m.view[obj["member"]] = obj["status"]
                    reports.append((float(obj["t"]), idx, obj["member"], obj["status"]))
                try:
                    idx, obj = events.get_nowait()
                except queue.Empty:
                    return

        def check_alive(allowed: int | None = None) -> None:
            for i, m in enumerate(members):
                if i != allowed and (m.exited or m.proc.poll() is not None):
                    m.proc.wait(timeout=5)
                    raise RuntimeError(
                        f"swim-protocol member {m.name} exited (rc={m.proc.returncode}) "
                        f"during run {run}; its stderr:\n{_stderr_tail(m)}")

        def converged() -> bool:
            return all(m.ready is not None and all(
                m.view.get(other) == "online" for other in names if other != m.name)
                for m in members)

        converge_deadline = t_start + CONVERGE_DEADLINE_BASE_S + 2.0 * nodes
        while not converged():
            check_alive()
            now = time.monotonic()
            if now >= converge_deadline:
                lacking = {m.name: sorted(o for o in names if o != m.name
                                          and m.view.get(o) != "online")
                           for m in members}
                lacking = {k: v for k, v in lacking.items() if v}
                raise RuntimeError(
                    f"swim-protocol cluster of {nodes} did not converge within "
                    f"{converge_deadline - t_start:.0f} s (run {run}); members still missing "
                    f"online peers: {json.dumps(lacking)[:2000]}")
            pump(min(0.5, converge_deadline - now))
        t_converged = time.monotonic()
        first_ready = members[0].ready
        assert first_ready is not None
        effective: dict[str, Any] = dict(first_ready.get("settings", {}))
        _log(f"run {run}: all {nodes} see each other online after "
             f"{t_converged - t_start:.2f} s; settling {settle_s:.1f} s")

        settle_end = t_converged + settle_s
        while (now := time.monotonic()) < settle_end:
            check_alive()
            pump(settle_end - now)
        check_alive()
        # anything not "online" reported after convergence is a false positive
        false_before = [r for r in reports if r[0] >= t_converged and r[3] != "online"]

        victim_idx = nodes - 1  # never the seed (0) nor the seed's own peer (1) when n > 2
        victim = members[victim_idx]
        survivors = [i for i in range(nodes) if i != victim_idx]
        eff = {**DEFAULT_SETTINGS, **effective}
        detect_timeout = (60.0 + 4.0 * nodes * float(eff["ping_interval"])
                          + 2.0 * (float(eff["suspect_timeout"]) + float(eff["ping_timeout"])
                                   + float(eff["ping_req_timeout"])))
        t_kill = time.monotonic()
        _kill_group(victim.proc, signal.SIGKILL)
        _log(f"run {run}: kill -9 {victim.name}; waiting for {len(survivors)} survivors to "
             f"report it offline (deadline {detect_timeout:.0f} s)")

        def all_offline() -> bool:
            return all(members[i].view.get(victim.name) == "offline" for i in survivors)

        detect_deadline = t_kill + detect_timeout
        while not all_offline() and (now := time.monotonic()) < detect_deadline:
            check_alive(allowed=victim_idx)
            pump(min(0.5, detect_deadline - now))
        t_done = time.monotonic()
        # a short grace so that late lines already written are read too
        pump(0.05)

        after = [r for r in reports if r[0] >= t_kill]
        suspect: dict[str, float | None] = {}
        offline: dict[str, float | None] = {}
        for i in survivors:
            name = members[i].name
            mine = [r for r in after if r[1] == i and r[2] == victim.name]
            s = [r[0] for r in mine if r[3] == "suspect"]
            d = [r[0] for r in mine if r[3] == "offline"]
            suspect[name] = min(s) - t_kill if s else None
            offline[name] = min(d) - t_kill if d else None
        back_online = sum(1 for r in after if r[2] == victim.name and r[3] == "online")
        false_after = [r for r in after if r[2] != victim.name and r[3] != "online"]
        false_positives = [{"t_rel_kill_s": round(r[0] - t_kill, 3),
                            "observer": members[r[1]].name, "member": r[2], "status": r[3]}
                           for r in false_before + false_after]
        s_stats, d_stats = _stats(suspect), _stats(offline)
        _log(f"run {run}: suspect median {_fmt(s_stats['median_s'])} max "
             f"{_fmt(s_stats['max_s'])}; offline median {_fmt(d_stats['median_s'])} max "
             f"{_fmt(d_stats['max_s'])}"
             + (f"; {d_stats['missing']} survivors never reported offline"
                if d_stats["missing"] else "")
             + (f"; {len(false_positives)} false positives" if false_positives else ""))
        return {
            "run": run,
            "victim": victim.name,
            "seed": names[0],
            "survivors": len(survivors),
            "converge_s": t_converged - t_start,
            "detect_wait_s": t_done - t_kill,
            "suspect": s_stats,
            "dead": d_stats,
            "suspect_median_s": s_stats["median_s"],
            "suspect_max_s": s_stats["max_s"],
            "dead_median_s": d_stats["median_s"],
            "dead_max_s": d_stats["max_s"],
            "victim_reported_online_after_kill": back_online,
            # every status report about the victim after the kill: (s after kill, observer,
            # status), in time order
            "victim_timeline": sorted((round(r[0] - t_kill, 3), members[r[1]].name, r[3])
                                      for r in after if r[2] == victim.name),
            "false_positives": false_positives,
            "settings": effective,
        }
    finally:
        _stop_all(members)
        for th in threads:
            th.join(timeout=5)
        lease.release()


# ----------------------------------------------------------------------------- public
def measure_swim_protocol(nodes: int, runs: int = 3, settle_s: float = 3.0,
                          **settings: Any) -> dict[str, Any]:
    """Failure-detection times of ``swim-protocol`` after ``kill -9`` of one member.

    Args:
        nodes: cluster size (>= 3: the seed, its peer and the victim are distinct).
        runs: independent runs, each on a fresh cluster.
        settle_s: steady-state time between "every member sees every other online" and
            the kill (false positives in it are reported).
        settings: swim-protocol config overrides, by its own names: ``ping_interval``,
            ``ping_timeout``, ``ping_req_count``, ``ping_req_timeout``,
            ``suspect_timeout``, ``sync_interval``, ``mtu_size``; the rest keep the
            package's defaults (``DEFAULT_SETTINGS``).

    Returns a dict with, per run (``runs``), the time from the kill until each survivor
    reported the victim ``suspect`` and ``offline`` (= dead), as median and max over the
    survivors (``suspect_median_s``, ``suspect_max_s``, ``dead_median_s``,
    ``dead_max_s``; per-member figures under ``suspect``/``dead``), and the median of
    each over the runs at the top level; ``settings`` are the effective values read back
    from the members. Times are in seconds; a survivor that never reported the state
    before the deadline counts as ``missing`` (``None``), not as a number.
    Raises RuntimeError if a cluster does not converge or a member crashes; every process
    started is stopped in all cases.
    """
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise TypeError(f"unknown swim-protocol settings {unknown}; "
                        f"known: {sorted(DEFAULT_SETTINGS)}")
    if nodes < 3:
        raise ValueError("nodes must be >= 3")
    if runs < 1:
        raise ValueError("runs must be >= 1")
    python = ensure_swim_protocol()
    t0 = time.monotonic()
    per_run: list[dict[str, Any]] = []
    for r in range(1, runs + 1):
        per_run.append(_one_run(python, nodes, r, settle_s, dict(settings)))
    effective = per_run[0]["settings"] if per_run else {}
    summary: dict[str, Any] = {
        "system": f"swim-protocol {SWIM_PROTOCOL_VERSION} (PyPI)",
        "nodes": nodes,
        "runs": runs,
        "settle_s": settle_s,
        "topology": "seed: members 1..n-1 name member 0 as peer; member 0 names member 1",
        "dead_status": "offline",
        "settings": effective,
        "overrides": dict(settings),
        "suspect_median_s": _median([r["suspect_median_s"] for r in per_run]),
        "suspect_max_s": _median([r["suspect_max_s"] for r in per_run]),
        "dead_median_s": _median([r["dead_median_s"] for r in per_run]),
        "dead_max_s": _median([r["dead_max_s"] for r in per_run]),
        "missing_suspect": sum(r["suspect"]["missing"] for r in per_run),
        "missing_dead": sum(r["dead"]["missing"] for r in per_run),
        "false_positives": sum(len(r["false_positives"]) for r in per_run),
        "wall_s": time.monotonic() - t0,
        "per_run": per_run,
    }
    _log(f"{nodes} nodes, {runs} runs (medians over runs): suspect median "
         f"{_fmt(summary['suspect_median_s'])}, max {_fmt(summary['suspect_max_s'])}; "
         f"dead median {_fmt(summary['dead_median_s'])}, max {_fmt(summary['dead_max_s'])}; "
         f"took {summary['wall_s']:.1f} s")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle-s", type=float, default=3.0)
    for key, value in DEFAULT_SETTINGS.items():
        parser.add_argument("--" + key.replace("_", "-"), dest=key, type=type(value),
                            default=None, help=f"swim-protocol {key} (default {value})")
    args = parser.parse_args()
    overrides = {k: getattr(args, k) for k in DEFAULT_SETTINGS if getattr(args, k) is not None}
    result = measure_swim_protocol(args.nodes, args.runs, args.settle_s, **overrides)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
