"""``python -m protocols.check.txn``: exit 0 valid at the level, 1 not, 2 cannot tell
(with a reason on stderr that names the line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.check.test_elle import Hist
from tests.check.test_txn import g2_item, lost_update


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "protocols.check.txn", *map(str, args)],
                          capture_output=True, text=True, timeout=60, check=False)


def write(tmp_path: Path, lines: list[Any], name: str = "h.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n"
                            for x in lines))
    return path


def jepsen(process: int, kind: str, value: Any, time: int) -> dict[str, Any]:
    return {"process": process, "type": kind, "value": value, "time": time}


def test_a_valid_history_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path, [
        jepsen(0, "invoke", [["append", "x", 1], ["r", "y", None]], 0),
        jepsen(0, "ok", [["append", "x", 1], ["r", "y", None]], 5),
        {"process": 9, "type": "info", "f": "start-partition", "value": None},  # nemesis
        jepsen(1, "invoke", [["r", "x", None], ["w", "y", 1]], 6),
        jepsen(1, "ok", [["r", "x", [1]], ["w", "y", 1]], 9),
    ])
    proc = run(path, "--level", "strict-serializable")
    assert proc.returncode == 0, proc.stderr
    assert "checked for strict-serializable: valid" in proc.stdout


def test_write_skew_exit_status_depends_on_the_level(tmp_path: Path) -> None:
    path = tmp_path / "skew.jsonl"
    path.write_text(g2_item().history().to_jsonl())
    si = run(path, "--level", "snapshot-isolation", "--model", "rw-register")
    assert si.returncode == 0, si.stderr
    assert "allowed at this level: G2-item" in si.stdout
    ser = run(path)  # serializable is the default
    assert ser.returncode == 1, ser.stderr
    assert "forbidden at this level: G2-item" in ser.stdout
    assert "-rw->" in ser.stdout and "read x=nil" in ser.stdout


def test_html_page_is_written(tmp_path: Path) -> None:
    path = tmp_path / "lost.jsonl"
    path.write_text(lost_update().history().to_jsonl())
    out = tmp_path / "graph.html"
    proc = run(path, "--level", "snapshot-isolation", "--html", out)
    assert proc.returncode == 1
    page = out.read_text()
    assert "lost-update" in page and "<svg" not in page.split("<script")[0]
    assert f"graph page: {out}" in proc.stdout


@pytest.mark.parametrize(("lines", "message"), [
    ([jepsen(0, "invoke", [["r", "x", None]], 0), '{"process": 0, "type": "ok",'],
     "line 2: not JSON"),
    ([jepsen(0, "invoke", [["cas", "x", [1, 2]]], 0)],
     "line 1: micro-op 1 [\"cas\", \"x\", [1, 2]]: unknown op 'cas'"),
    ([jepsen(0, "invoke", [["r", "x", None]], 0), jepsen(1, "ok", [["r", "x", None]], 1)],
     "line 2: ok for process 1, which has no txn in flight"),
    ([jepsen(0, "invoke", [["r", "x", None]], 0), jepsen(0, "invoke", [["r", "x", None]], 1)],
     "line 2: process 0 invoked again before its txn from line 1 completed"),
    ([jepsen(0, "invoke", [["r", "x", None]], 0), jepsen(0, "ok", [["r", "y", None]], 1)],
     "line 2: the ok's micro-ops differ from those invoked on line 1"),
    ([{"process": 0, "type": "begin", "value": []}], "line 1: \"type\" is 'begin'"),
    ([jepsen(0, "invoke", "append x 1", 0)], "line 1: \"value\" must be a list"),
    (["", jepsen(0, "invoke", [["w", "x", 1]], 0), jepsen(0, "ok", [["w", "x", 1]], 1),
      jepsen(1, "invoke", [["w", "x", 1]], 2), jepsen(1, "ok", [["w", "x", 1]], 3)],
     "T0 and T2 both wrote 1 to 'x': rw-register needs every written value unique per key "
     "(T0 was invoked on line 2; T2 was invoked on line 4)"),
])
def test_a_history_it_cannot_judge_exits_2_naming_the_line(tmp_path: Path, lines: list[Any],
                                                           message: str) -> None:
    proc = run(write(tmp_path, lines))
    assert proc.returncode == 2
    assert "cannot tell: " + message in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_a_register_write_in_a_list_append_history_says_what_to_do(tmp_path: Path) -> None:
    proc = run(write(tmp_path, [jepsen(0, "invoke", [["w", "x", 1]], 0)]),
               "--model", "list-append")
    assert proc.returncode == 2
    assert "unknown op 'w' for the list-append model" in proc.stderr
    assert "use --model mixed" in proc.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = run(tmp_path / "nope.jsonl")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    level = run(write(tmp_path, []), "--level", "linearizable")
    assert level.returncode == 2 and "invalid choice: 'linearizable'" in level.stderr
    empty = run(write(tmp_path, [{"process": 0, "type": "info", "f": "kill"}]))
    assert empty.returncode == 2 and "no transactions in the file" in empty.stderr


def test_time_defaults_to_the_line_order(tmp_path: Path) -> None:
    """No times: the file's order is real time, so a stale read is caught."""
    lines = [{"process": 0, "type": "invoke", "value": [["w", "x", 1]]},
             {"process": 0, "type": "ok", "value": [["w", "x", 1]]},
             {"process": 1, "type": "invoke", "value": [["r", "x", None]]},
             {"process": 1, "type": "ok", "value": [["r", "x", None]]}]
    path = write(tmp_path, lines)
    assert run(path).returncode == 0
    strict = run(path, "--level", "strict-serializable")
    assert strict.returncode == 1 and "G-single-realtime" in strict.stdout


def test_info_and_fail_lines_may_omit_the_value(tmp_path: Path) -> None:
    lines = [jepsen(0, "invoke", [["w", "x", 1]], 0), {"process": 0, "type": "info"},
             jepsen(1, "invoke", [["w", "x", 2]], 2), {"process": 1, "type": "fail"}]
    assert run(write(tmp_path, lines)).returncode == 0
    h = Hist().fail(0, [["w", "x", 1]], 0, 1).ok(1, [["r", "x", 1]], 2, 3)
    path = tmp_path / "g1a.jsonl"
    path.write_text(h.history().to_jsonl())
    proc = run(path, "--level", "read-committed")
    assert proc.returncode == 1 and "G1a: aborted read" in proc.stdout
