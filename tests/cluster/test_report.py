"""``scripts/report DIR``: the run's page, from folders real runs left — a simulated Raft
run (``scripts/sim --spacetime DIR``), the toy protocol with its planted bug (it
acknowledges before fsync: the simulator's invariants catch it), and a cluster's folder
with a nemesis log and no verdict — then the pages in headless Chromium (the fixture and
loader of ``tests/check/test_spacetime_chromium.py``). The demos' pages are checked by
their own tests (tests/twopc/integration/test_twopc_demo.py, the dynamo demo's)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import unquote

import pytest

from cluster.nemesis import Nemesis
from cluster.report import main as report_main
from protocols import simulate
from protocols.check import History, check_bank, check_history, check_set_full
from protocols.check.record import (
    Judgement,
    RecordError,
    make_record,
    read_record,
    write_record,
)
from protocols.sim import RunResult, Verdict, run_once
from tests.check.test_spacetime import Elements
from tests.check.test_spacetime_chromium import chromium, load
from tests.toy.protocol.sim import UNSAFE

__all__ = ["chromium"]  # the fixture, used by name below

PLANTED_SEED = 4  # the first seed of 1.. on which the toy's missing fsync is caught


def page(folder: Path) -> tuple[Elements, str]:
    text = (folder / "index.html").read_text(encoding="utf-8")
    dom = Elements()
    dom.feed(text)
    return dom, text


def texts(dom: Elements, cls: str) -> list[str]:
    return [dom.text[i] for i, _ in dom.with_class(cls)]


def rows(dom: Elements, cls: str) -> list[list[str]]:
    """The cells' text of each ``<tr class=cls>`` (a cell's text, with that of the
    inline elements that follow it: those in it)."""
    out: list[list[str]] = []
    current: list[str] | None = None
    for i, (tag, attrs) in enumerate(dom.tags):
        if tag == "tr":
            current = [] if cls in attrs.get("class", "").split() else None
            if current is not None:
                out.append(current)
        elif tag == "td" and current is not None:
            current.append(dom.text[i])
        elif current and tag in ("pre", "a", "span", "code", "b"):
            current[-1] += dom.text[i]
        else:
            current = None
    return out


def links(dom: Elements) -> list[str]:
    """Every link and frame of the page that points into the folder."""
    found = [a.get("href", "") for t, a in dom.tags if t == "a"]
    found += [a.get("src", "") for t, a in dom.tags if t == "iframe"]
    return [u for u in found if u and not u.startswith(("http://", "https://"))]


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated Raft run with two faults, through scripts/sim's own entry point."""
    folder = tmp_path_factory.mktemp("sim-raft")
    assert simulate.main(["--protocol", "raft", "--seed", "1", "--nodes", "3",
                          "--duration-ms", "2000", "--spacetime", str(folder)]) == 0
    assert report_main([str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim-planted")
    result = run_once(UNSAFE, PLANTED_SEED, duration_ms=5000, event_log=True)
    assert not result.ok, (f"seed {PLANTED_SEED} no longer catches the toy's missing fsync: "
                           "use the first seed `scripts/sim --sweep` finds for UNSAFE")
    simulate.write_spacetime(result, str(folder))
    assert report_main([str(folder)]) == 0
    return folder


def test_a_simulated_run_gets_its_verdicts_views_and_faults_on_one_page(
        valid_run: Path) -> None:
    record = read_record(valid_run)
    assert record is not None and record.source == "sim" and record.status == "ok"
    assert [(v.check, v.status) for v in record.verdicts] == [
        ("linearizability", "ok"), ("invariants", "ok")]
    dom, text = page(valid_run)
    assert texts(dom, "banner") == ["VALID"]
    checks = rows(dom, "check")
    assert [(c[0], c[1]) for c in checks] == [("linearizability", "VALID"),
                                             ("invariants", "VALID")]
    assert "ok: 3 keys (3 ok, 0 violation, 0 unknown)" in text
    assert texts(dom, "replay") == [record.replay]
    assert texts(dom, "complete") == ["nothing missing"]
    assert [a["src"] for t, a in dom.tags if t == "iframe"] == ["timeline.html",
                                                                "spacetime.html"]
    # the nemesis's faults as a table, in simulated seconds on the diagram's axis
    faults = rows(dom, "fault")
    assert len(record.faults) == 2 and len(faults) == 2
    for (start, end, what), row in zip(record.faults, faults, strict=True):
        assert row[1:5] == [f"{start:.3f}", f"{end:.3f}", f"{end - start:.3f}", what]
    see = [a["href"] for _, a in dom.with_class("see")]
    assert len(see) == 2 and all(h.startswith("spacetime.html#zoom=") for h in see)
    start, end, _ = record.faults[0]
    assert see[0].endswith(f"&t={(start + end) / 2:.6f}")  # the diagram's t0 is 0 here


def test_every_link_of_the_page_is_a_file_of_the_folder(valid_run: Path) -> None:
    dom, _ = page(valid_run)
    targets = {unquote(u.partition("#")[0]) for u in links(dom)}
    assert {"timeline.html", "spacetime.html", "spacetime.shiviz.log"} <= targets
    for target in targets:
        assert (valid_run / target).is_file(), target


def test_a_planted_bug_shows_as_a_violation(planted_run: Path) -> None:
    record = read_record(planted_run)
    assert record is not None and record.status == "violation"
    dom, _ = page(planted_run)
    assert texts(dom, "banner") == ["VIOLATION"]
    [check] = rows(dom, "check")
    assert check[:2] == ["simulation", "VIOLATION"]
    assert "InvariantViolation: two values decided at index" in check[2]
    assert texts(dom, "replay") == [record.replay] and f"--seed {PLANTED_SEED}" in record.replay


def test_a_cluster_folder_without_a_verdict_says_what_it_has_and_lacks(
        tmp_path: Path) -> None:
    """The nemesis log as the cluster runner writes it (the real Nemesis, on a folder),
    the nodes' files, no verdict and no diagram."""
    nemesis = Nemesis(cast(Any, SimpleNamespace(dir=tmp_path)))
    nemesis.log_event("cluster-up", nodes=["n1", "n2", "n3"])
    nemesis.start_fault("partition", groups=[["n1"], ["n2", "n3"]], mode="blackhole")
    nemesis.end_fault("partition")
    nemesis.start_fault("kill-n2")  # never ended: the run stopped first
    (tmp_path / "cluster.json").write_text(json.dumps(
        {"protocol": "raft", "nodes": {n: {} for n in ("n1", "n2", "n3")}}))
    (tmp_path / "n1.log").write_text("started\nTraceback (most recent call last):\n")
    (tmp_path / "n2.log").write_text("started\n")
    (tmp_path / "events.n1.jsonl").write_text('{"t": 1}\n{"t": 2}\n{"t": 3}\n')
    (tmp_path / "n1").mkdir()
    assert report_main([str(tmp_path)]) == 0
    dom, text = page(tmp_path)
    assert texts(dom, "banner") == ["NOT CHECKED"]
    missing = " ".join(texts(dom, "missing-item"))
    for what in ("verdict.json", "timeline.html", "spacetime.shiviz.log",
                 "spacetime.html: no space-time diagram (the event logs are here: "
                 "`scripts/cluster --dir DIR draw` draws it)"):
        assert what in missing
    assert "nemesis.jsonl" not in missing and "node logs" not in missing
    log = [json.loads(line) for line in (tmp_path / "nemesis.jsonl").read_text().splitlines()]
    partition = rows(dom, "fault")[0]
    assert partition[4] == "partition n1 | n2,n3 (blackhole)"
    assert partition[3] == f"{log[2]['time'] - log[1]['time']:.3f}"
    assert rows(dom, "fault")[1][2:5] == ["never ended", "", "kill-n2"]
    assert [r[1] for r in rows(dom, "entry")] == ["cluster-up"]
    nodes = {r[0]: r for r in rows(dom, "node")}
    assert list(nodes) == ["n1", "n2", "n3"]
    assert "1 traceback" in text and "(3 events)" in text
    assert nodes["n3"][1:] == ["none", "none", "none"]
    targets = {unquote(u.partition("#")[0]) for u in links(dom)}
    assert targets == {"nemesis.jsonl", "n1.log", "n2.log", "events.n1.jsonl", "cluster.json"}


def test_run_data_is_escaped(valid_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "run"
    shutil.copytree(valid_run, folder)
    evil = '</pre><script>alert("x")</script>&'
    write_record(folder, make_record(evil, "raft", "sim", [Judgement("lin" + evil, "violation",
                                                                     evil)],
                                     faults=[(0.5, 0.75, evil)], clock="simulated"))
    odd = folder / '<b>&"x" y.txt'
    odd.write_text("x")
    assert report_main([str(folder)]) == 0
    dom, text = page(folder)
    assert "<script" not in text and "alert(&quot;x&quot;)" in text
    assert texts(dom, "banner") == ["VIOLATION"]
    assert rows(dom, "fault")[0][4] == evil  # as text, unchanged
    [href] = [a["href"] for _, a in dom.with_class("other") if "txt" in a["href"]]
    assert href == "%3Cb%3E%26%22x%22%20y.txt" and (folder / unquote(href)).is_file()


@pytest.mark.parametrize("make", ["missing", "empty", "bad-record"])
def test_a_folder_that_is_no_run_gets_one_error_line_and_exit_2(
        make: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "run"
    if make != "missing":
        folder.mkdir()
    if make == "bad-record":
        (folder / "verdict.json").write_text('{"verdicts": [{"check": "x", "status": "ok?"}]}')
    assert report_main([str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ")
    assert {"missing": "no such directory", "empty": "not a run folder",
            "bad-record": "not a run record"}[make] in err
    assert not (folder / "index.html").exists()


def test_each_checkers_result_becomes_a_verdict_and_the_record_round_trips(
        tmp_path: Path) -> None:
    lin = Judgement.of("linearizability", check_history(stale_read()))
    assert lin.status == "violation" and lin.summary.startswith("violation: 1 keys")
    assert Judgement.of("bank", check_bank(History(), {"a": 1})).status == "ok"
    assert Judgement.of("set-full", check_set_full(History())).status == "unknown"
    with pytest.raises(TypeError, match="neither verdict nor valid"):
        Judgement.of("x", cast(Any, object()))
    record = make_record("t", "raft", "demo", [lin, Judgement.holds("p", True, "s")],
                         faults=[(1.0, 2.0, "kill-n1")], replay="scripts/demo raft")
    write_record(tmp_path, record)
    assert read_record(tmp_path) == record and record.status == "violation"
    (tmp_path / "verdict.json").write_text("[1]")
    with pytest.raises(RecordError, match="not a run record"):
        read_record(tmp_path)


def stale_read() -> History:
    """A read of nothing after the put returned: not linearizable."""
    stale = History()
    put = stale.invoke(0, "put", "k", "1", 0.0)
    stale.complete(put, "ok", None, 1.0)
    get = stale.invoke(1, "get", "k", None, 2.0)
    stale.complete(get, "ok", None, 3.0)
    return stale


def test_a_simulated_runs_linearizability_violation_marks_its_culprit(tmp_path: Path
                                                                      ) -> None:
    """scripts/sim --spacetime on a run whose checker found a stale read: the timeline
    and the diagram colour the read that cannot be placed (times in simulated ms)."""
    verdict = check_history(stale_read())
    result = RunResult("raft", 1, workload="kv", history=stale_read(), events=5,
                       verdicts=[Verdict("linearizability", "violation", verdict.summary())])
    simulate.write_spacetime(result, str(tmp_path))
    assert 'class="culprit"' in (tmp_path / "timeline.html").read_text()
    assert "culprit" in (tmp_path / "spacetime.html").read_text()
    record = read_record(tmp_path)
    assert record is not None and record.status == "violation"


def test_the_pages_load_in_chromium_with_their_verdicts_and_no_error(
        chromium: str, valid_run: Path, planted_run: Path, tmp_path: Path) -> None:
    """One browser for every page: a probe frames each index and every page it links
    (file pages may read their frames with --allow-file-access-from-files) and notes,
    per frame, its title, whether its script ran to the end, and its verdict banner."""
    frames = []
    for folder in (valid_run, planted_run):
        dom, _ = page(folder)
        frames.append((folder / "index.html").as_uri())
        frames += sorted({(folder / unquote(u.partition("#")[0])).as_uri() for u in links(dom)
                          if u.partition("#")[0].endswith(".html")})
    assert all(Path(unquote(f.removeprefix("file://"))).is_file() for f in frames)
    dom, _ = page(valid_run)
    fault = [a["href"] for _, a in dom.with_class("see")][-1]  # the diagram, on a fault
    frames.append((valid_run / "spacetime.html").as_uri() + fault.removeprefix("spacetime.html"))
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE.replace("PAGES", json.dumps(frames)))
    dom, _, console = load(chromium, probe, tmp_path, flags=("--allow-file-access-from-files",))
    assert console == ""  # no error in any frame
    body = next(a for t, a in dom.tags if t == "body")
    seen = {f: json.loads(body[f"data-p{i}"]) for i, f in enumerate(frames)}
    assert len(seen) == 7 and all(title for title, *_ in seen.values()), seen  # each loaded
    assert seen[(valid_run / "index.html").as_uri()][2] == "VALID"
    assert seen[(planted_run / "index.html").as_uri()][2] == "VIOLATION"
    for folder in (valid_run, planted_run):
        spacetime = seen[(folder / "spacetime.html").as_uri()]
        assert spacetime[1] == "1" and spacetime[3] == "1"  # its script ran; not zoomed
        assert seen[(folder / "timeline.html").as_uri()][0] == "history timeline"
    zoomed = seen[frames[-1]]  # the fault's link opens zoomed on it (0.08 s of 2 s)
    assert zoomed[1] == "1" and float(zoomed[3]) == pytest.approx(
        float(fault.split("zoom=")[1].split("&")[0]), rel=1e-3) and float(zoomed[3]) > 5


PROBE = """<!doctype html><html><body><script>
JSON.parse('PAGES').forEach(function (url, i) {
  var f = document.createElement("iframe");
  f.style.width = "1400px"; f.style.height = "900px";
  f.onload = function () {
    var d = f.contentDocument, b = d && d.querySelector(".banner"),
        st = d && d.getElementById("st");
    document.body.dataset["p" + i] = JSON.stringify(d ? [d.title, d.body.dataset.ready || "",
        b ? b.textContent : "", st ? st.dataset.zoom : ""] : ["", "", "", ""]);
  };
  f.src = url;
  document.body.appendChild(f);
});
</script></body></html>"""
