"""Child processes: own process groups, death with the owner, signals, and OS checks.

Every node and proxy-server process gets its own process group (so a kill reaches
anything it spawned). When the cluster belongs to a Python process (a test, a demo),
children arm ``PR_SET_PDEATHSIG(SIGKILL)`` themselves: if the owner dies — even by SIGKILL —
the kernel kills them, and no orphan is left. Clusters started by ``python -m cluster
up`` are detached on purpose and stopped by ``down``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from protocols.common.lifeline import PARENT_ENV

__all__ = ["find_processes", "is_alive", "kill_group", "runs", "spawn", "wait_gone"]


def spawn(argv: Sequence[str], log_path: Path, *, owned: bool,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new process group, output appended to ``log_path``.

    ``owned``: the child arms PR_SET_PDEATHSIG itself at startup
    (``protocols.common.lifeline``), so it dies with this process."""
    child_env = dict(os.environ if env is None else env)
    if owned:
        child_env[PARENT_ENV] = str(os.getpid())
    else:
        child_env.pop(PARENT_ENV, None)
    with open(log_path, "ab") as log:
        return subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=child_env)


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def find_processes(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and marker.encode() in cmdline:
            found.append(int(entry))
    return sorted(found)


def wait_gone(pids: Sequence[int], deadline_s: float) -> list[int]:
    """Wait until none of ``pids`` is alive; return those still alive at the deadline.
    Always looks at least once: ``wait_gone(pids, 0)`` is "which of them live now"."""
    end = time.monotonic() + deadline_s
    while True:
        alive = [p for p in pids if is_alive(p)]
        if not alive or time.monotonic() >= end:
            return alive
        pids = alive
        time.sleep(0.02)


def is_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def runs(pid: int, *markers: str) -> bool:
    """``pid`` is a live process whose command line holds every one of ``markers`` as a
    whole argument (a recorded pid may since belong to another process)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return is_alive(pid) and all(m.encode() in argv for m in markers)
