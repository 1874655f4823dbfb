"""Port allocation that does not race between parallel tests or processes.

Ports come from a range *below* the kernel's ephemeral range
(``/proc/sys/net/ipv4/ip_local_port_range``), so an outgoing connection can never take
a port we handed out — a proxy that is disabled and re-enabled rebinds the same port
safely. Each port is held by an ``flock`` on a file in a shared directory for as long as
its ``PortLease`` lives, and checked free with a bind before it is handed out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile

__all__ = ["PortLease", "allocate_ports"]

LOCK_DIR = os.path.join(tempfile.gettempdir(), "protocols-ports")


def _range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return 20000, max(20100, low - 1)


class PortLease:
    """Ports reserved for one owner; ``release()`` (or process exit) frees them."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self._fds: list[int] = []

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        self.ports.clear()

    def _try(self, port: int) -> bool:
        path = os.path.join(LOCK_DIR, f"{port}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        if not _bindable(port):
            os.close(fd)
            return False
        self._fds.append(fd)
        self.ports.append(port)
        return True


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def allocate_ports(n: int, lease: PortLease | None = None) -> PortLease:
    """Reserve ``n`` free ports (added to ``lease`` if given)."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    lease = lease or PortLease()
    low, high = _range()
    candidates = list(range(low, high))
    random.SystemRandom().shuffle(candidates)
    wanted = len(lease.ports) + n
    for port in candidates:
        if len(lease.ports) == wanted:
            return lease
        lease._try(port)
    if len(lease.ports) == wanted:
        return lease
    raise RuntimeError(f"could not reserve {n} free ports in {low}..{high}")
