"""Every rule the README claims is caught when removed (scripts/mutate; the table in
docs/raft-rules.md). Slow: each mutation runs part of the suite in a copy of the tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_every_rule_is_caught_when_removed() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "mutate.py")], cwd=ROOT,
                         capture_output=True, text=True, timeout=1800)
    print(out.stdout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
