"""The operator CLIs end to end: ``python -m cluster up`` with protocol options, then
``python -m protocols.raft`` changing the membership of the running cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_membership_cli_on_a_running_cluster(tmp_path: Path) -> None:
    env = {**os.environ, "PROTOCOLS_CLUSTER_DIR": str(tmp_path / "c")}
    up = run("cluster", "up", "raft", "-n", "4", "-o", 'initial_voters=["n1","n2","n3"]',
             env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        add = run("protocols.raft", "add", "n4", env=env)
        assert add.returncode == 0, add.stdout + add.stderr
        assert "committed: voters {n1, n2, n3, n4}" in add.stdout
        bad = run("protocols.raft", "promote", "n9", env=env)
        assert bad.returncode == 2 and "unknown node 'n9'" in bad.stderr
        moved = run("protocols.raft", "transfer", "n4", env=env)
        assert moved.returncode == 0 and "transferred to n4" in moved.stdout, moved.stderr
    finally:
        down = run("cluster", "down", env=env)
    assert down.returncode == 0, down.stdout + down.stderr


def test_bad_option_syntax_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "PROTOCOLS_CLUSTER_DIR": str(tmp_path / "c")}
    up = run("cluster", "up", "raft", "-o", "no-equals-sign", env=env)
    assert up.returncode == 2 and "--option wants KEY=JSON, not 'no-equals-sign'" in up.stdout
