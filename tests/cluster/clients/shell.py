"""What the shell clients' tests share: a cluster started by ``cluster up`` as a user
would (``main``, detached processes) and stopped by ``cluster down``; a command's exit
code and output lines; polling a command until its output shows a condition."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cluster.__main__ import main


@contextmanager
def cluster_up(directory: Path, protocol: str, nodes: int, *options: str) -> Iterator[Path]:
    """A ``protocol`` cluster in ``directory`` for the block; always ``down`` after."""
    try:
        assert main(["--dir", str(directory), "up", protocol, "-n", str(nodes),
                     *options]) == 0
        yield directory
    finally:
        main(["--dir", str(directory), "down"])


def run(capsys: pytest.CaptureFixture[str], d: Path, *args: str) -> tuple[int, list[str]]:
    """``python -m cluster --dir d ARGS``: its exit code and its output's lines."""
    capsys.readouterr()
    code = main(["--dir", str(d), *args])
    return code, capsys.readouterr().out.splitlines()


def until(capsys: pytest.CaptureFixture[str], d: Path, args: tuple[str, ...],
          done: Callable[[list[str]], bool], deadline_s: float = 10.0) -> list[str]:
    """Run the command until ``done(lines)`` (what gossip or delivery brings about); an
    AssertionError with the last output after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while True:
        code, lines = run(capsys, d, *args)
        if code == 0 and done(lines):
            return lines
        if time.monotonic() > end:
            raise AssertionError(f"{' '.join(args)}: not done within {deadline_s}s; last "
                                 f"exit {code}, output {lines}")
        time.sleep(0.05)  # between polls of a live cluster (not a wait for a state)


def client_address(d: Path, node: str) -> str:
    """Where a node's clients connect (``state.json``): to use as ``--endpoint``."""
    address: str = json.loads((d / "state.json").read_text())["nodes"][node][
        "client_address"]
    return address


@contextmanager
def silent_port() -> Iterator[str]:
    """HOST:PORT where nothing listens (bound, not listening: connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{s.getsockname()[1]}"
