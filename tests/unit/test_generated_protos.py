"""The committed generated code is exactly what scripts/gen-protos makes from protos/."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_matches_protos(tmp_path: Path) -> None:
    out = subprocess.run([str(ROOT / "scripts" / "gen-protos"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    fresh = tmp_path / "protocols" / "_pb"
    committed = ROOT / "src" / "protocols" / "_pb"
    names = sorted(p.name for p in fresh.iterdir() if p.suffix in (".py", ".pyi"))
    assert names, "gen-protos produced nothing"
    committed_names = sorted(p.name for p in committed.iterdir() if p.suffix in (".py", ".pyi"))
    assert committed_names == names, "a .proto was added or removed: run scripts/gen-protos"
    _, mismatch, errors = filecmp.cmpfiles(fresh, committed, names, shallow=False)
    assert not mismatch and not errors, (
        f"src/protocols/_pb is stale for {mismatch + errors}: run scripts/gen-protos and commit"
    )
