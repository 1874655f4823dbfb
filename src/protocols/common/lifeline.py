"""Die with the owner: child processes of a test or demo must never outlive it.

The cluster runner starts nodes and the proxy server with ``PROTOCOLS_PARENT_PID`` set.
First thing at startup, such a child asks the kernel for ``PR_SET_PDEATHSIG(SIGKILL)``
— so that its parent's death, even by SIGKILL, kills it — and then checks that the
parent is still the one it was started by (it may have died before the request).
This runs in the child itself, not in a ``preexec_fn``: code between fork and exec in a
multi-threaded parent (asyncio, gRPC) can crash or deadlock.
"""

from __future__ import annotations

import ctypes
import os
import signal

__all__ = ["PARENT_ENV", "die_with_parent_from_env"]

PARENT_ENV = "PROTOCOLS_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent_from_env() -> None:
    raw = os.environ.pop(PARENT_ENV, "")
    if not raw.isdigit():
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(raw):  # the owner died before we asked: go now
        os.kill(os.getpid(), signal.SIGKILL)
