"""The state-space browser (``protocols.explore.browse``): its embedded graph, and the
page in a real browser (headless Chromium, as ``tests/check/test_spacetime_chromium.py``).

The page keeps what it shows on ``<body>``: ``data-state`` (the state shown),
``data-trail`` (the ids along the trail) and ``data-at-end`` (the trail is the
counterexample's whole path). Clicks are driven by a script appended to a copy of the
page, which records what it saw on ``<body>`` before Chromium dumps the DOM.

The Synod's planted bug ``synod-promise-majority`` (a proposer that goes to phase 2 on
fewer promises than a majority) gives the counterexample: its eight moves are written out
below by their labels, and the slow test takes them from the explorer itself.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocols.explore.browse import (
    NOT_EXPLORED,
    explore_graph,
    page_json,
    readable,
    write_browser,
)
from protocols.explore.canon import canon
from protocols.explore.model import Always, ExploreAdapter
from protocols.explore.search import Explorer
from protocols.explore.system import Move, System
from protocols.registry import load_models
from tests.check.test_spacetime import Elements
from tests.check.test_spacetime_chromium import attrs_of, chromium, load
from tests.support.planted import planted

__all__ = ["chromium"]  # the fixture, shared with the space-time page's tests

BUG = "synod-promise-majority"
BROKEN = "sim:SynodInvariants"
# the shortest counterexample (explorer, BFS, 12 messages in flight): n1's value x is
# chosen, then n2 runs phase 2 on one promise (n3's) and issues y at a higher ballot
STEPS = ["submit 'x' to n1", "deliver n1->n1 Prepare", "deliver reply n1->n1 Promise",
         "deliver n1->n1 Accept", "deliver n1->n2 Accept", "submit 'y' to n2",
         "deliver n2->n3 Prepare", "deliver reply n3->n2 Promise"]
EVIL = "</script><script>document.body.dataset.pwned='1'</script>&amp;"


def synod() -> ExploreAdapter:
    return load_models("synod")["synod"]("small")


def wide(adapter: ExploreAdapter) -> ExploreAdapter:
    """The model with 12 messages in flight (the small model holds 4; the counterexample
    above has 11 in flight at its end)."""
    return dataclasses.replace(adapter, bounds=dataclasses.replace(adapter.bounds,
                                                                   in_flight=12))


def scripted_path(adapter: ExploreAdapter, steps: list[str]) -> list[Move]:
    """The moves whose labels begin with ``steps``, one by one from the initial state."""
    system, path = System(adapter), []
    for step in steps:
        found = [m for m in system.moves() if m.label.startswith(step)]
        assert len(found) == 1, (step, [m.label for m in system.moves()])
        path.append(found[0])
        system.apply(found[0])
    return path


def graph_of(page: Path) -> dict[str, Any]:
    """The graph embedded in ``page``."""
    m = re.search(r'<script type="application/json" id="graph">(.*?)</script>',
                  page.read_text(encoding="utf-8"), re.S)
    assert m is not None
    return json.loads(m[1])


def attrs_index(dom: Elements, tag: str) -> int:
    """The index of the first ``tag`` element (``dom.text`` is keyed by it)."""
    return next(i for i, (t, _) in enumerate(dom.tags) if t == tag)


def probed(page: Path, out: Path, probe: str) -> Path:
    """A copy of ``page`` with ``probe`` (JavaScript) run after the page's script."""
    head, _, tail = page.read_text(encoding="utf-8").rpartition("</body>")
    out.write_text(f"{head}<script>\n{probe}\n</script></body>{tail}", encoding="utf-8")
    return out


# --------------------------------------------------------------------------- no browser


@pytest.fixture(scope="module")
def plain_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Synod's first 60 states; its summary (in the page and in its data) tries to
    end the script element."""
    return write_browser(dataclasses.replace(synod(), summary=EVIL),
                         tmp_path_factory.mktemp("browse") / "synod.html", limit=60)


def test_the_embedded_graph_is_the_explored_one(plain_page: Path) -> None:
    g = graph_of(plain_page)
    adapter = synod()
    assert g == json.loads(json.dumps(explore_graph(
        dataclasses.replace(adapter, summary=EVIL), limit=60).to_json()))
    assert [p["name"] for p in g["properties"]] == [p.name for p in
                                                    Explorer(adapter).properties]
    states = g["states"]
    assert [s["id"] for s in states] == list(range(len(states)))
    assert 60 <= len(states) < 120 and g["path"] == [] and g["broken"] == []
    assert [m["label"] for m in states[0]["moves"]] == [
        str(m) for m in System(adapter).moves()]
    # breadth-first: a state's depth is one more than the least of its parents'
    parents: dict[int, list[int]] = {}
    for s in states:
        for m in s["moves"]:
            if m["to"] is not None:
                assert 0 <= m["to"] < len(states)
                parents.setdefault(m["to"], []).append(s["depth"])
    assert states[0]["depth"] == 0
    assert all(s["depth"] == min(parents[s["id"]]) + 1 for s in states[1:])
    # the limit: the last states reached were not expanded, and say so
    cut = [s for s in states if s["moves"] and s["moves"][0].get("note") == NOT_EXPLORED]
    assert cut and all(m["to"] is None for s in cut for m in s["moves"])
    stopped = [s for s in states if s["stop"]]  # beyond the model's bounds
    assert all(m["note"] == "beyond the model's bounds" for s in stopped for m in s["moves"])
    assert sum(1 for s in states if any(m["to"] is not None for m in s["moves"])) <= \
        g["expanded"] <= len(states) - len(cut) - len(stopped)


def test_each_move_leads_to_the_state_it_makes(plain_page: Path) -> None:
    """Replaying the trail's moves on a fresh System gives the state the page shows:
    the same messages in flight, the same core fields, the same verdicts."""
    g = graph_of(plain_page)
    adapter = synod()
    todo: list[tuple[int, System]] = [(0, System(adapter))]
    seen = 0
    while todo:
        sid, system = todo.pop()
        state = g["states"][sid]
        seen += 1
        assert sorted(g["messages"][i] for i in state["network"]) == sorted(
            p.describe() for p in system.network)
        for n, view in zip(system.ids, state["nodes"], strict=True):
            fields = dict(g["views"][view]["fields"])
            assert fields["proposer"] == readable(canon(system.nodes[n].core.proposer))
        chosen = any(dict(g["views"][v]["fields"])["chosen"] != "None" for v in state["nodes"])
        assert state["props"][1]["holds"] is chosen  # "a value is chosen"
        if state["depth"] < 3:
            for entry, move in zip(state["moves"], system.moves(), strict=True):
                assert entry["label"] == str(move)
                if entry["to"] is not None:
                    child = system.clone()
                    child.apply(move)
                    todo.append((entry["to"], child))
    assert seen > 20


def test_each_property_is_checked_once_per_state() -> None:
    calls: list[int] = []

    def counted(system: System) -> None:
        calls.append(system.depth)

    adapter = dataclasses.replace(synod(), properties=(Always("counted", counted),),
                                  sim_invariants=False)
    g = explore_graph(adapter, limit=40)
    assert len(calls) == len(g.states) and [p["name"] for p in g.properties] == ["counted"]


def test_a_message_cannot_end_the_script_element(tmp_path: Path) -> None:
    adapter = dataclasses.replace(synod(), commands=(EVIL, "y"), summary=EVIL)
    page = write_browser(adapter, tmp_path / "evil.html", limit=5)
    text = page.read_text(encoding="utf-8")
    assert text.count("</script>") == 2  # the data's end and the code's end
    assert f"submit {EVIL!r} to n1" in [m["label"] for m in graph_of(page)["states"][0]["moves"]]
    data = page_json(explore_graph(adapter, limit=5))
    assert not set("<>&") & set(data) and EVIL in json.dumps(json.loads(data))
    assert "&lt;/script&gt;" in text.split("<script", 1)[0]  # the summary, as text


def test_states_read_as_python() -> None:
    from protocols.paxos.messages import Ballot
    assert readable(canon(Ballot(1, "n1"))) == "Ballot(round=1, leader_id='n1')"
    assert readable(canon({"b", "a"})) == "{'a', 'b'}"
    assert readable(canon({"k": [1, 2]})) == "{'k': (1, 2)}"
    assert readable(canon(set())) == "{}" and readable(canon((7,))) == "(7,)"


# --------------------------------------------------------------------------- in chromium


def test_the_page_walks_the_state_space(chromium: str, plain_page: Path,
                                        tmp_path: Path) -> None:
    g = graph_of(plain_page)
    probe = """
var b = document.body.dataset;
function click(text) {
  var m = Array.prototype.find.call(document.querySelectorAll("#moves button"),
                                    function (x) { return x.textContent === text; });
  m.click();
}
function seen() {
  return b.state + "|" + b.trail + "|" + Array.prototype.map.call(
    document.querySelectorAll("#network li"), function (x) { return x.textContent; }).join(";");
}
b.start = seen();
click("submit 'x' to n1");
b.afterSubmit = seen();
b.proposer = document.querySelector('.node[data-node="n1"]').textContent;
document.querySelector("#moves button").click();
b.afterSecond = seen();
document.getElementById("back").click();
b.afterBack = seen();
document.getElementById("reset").click();
b.afterReset = seen();
b.probed = "1";
"""
    dom, _, console = load(chromium, probed(plain_page, tmp_path / "p.html", probe), tmp_path)
    assert console == ""
    body = attrs_of(dom, "body")
    assert body["data-ready"] == "1" and body["data-probed"] == "1"
    assert "data-pwned" not in body and dom.text[attrs_index(dom, "p")] == EVIL
    assert body["data-start"] == "0|0|none"
    submit = next(m for m in g["states"][0]["moves"] if m["label"] == "submit 'x' to n1")
    one = submit["to"]
    state, trail, network = body["data-after-submit"].split("|")
    assert (state, trail) == (str(one), f"0,{one}")
    assert "n1->n1 Prepare(ballot=Ballot(round=1, leader_id='n1')) (new)" in network.split(";")
    assert "value='x'" in body["data-proposer"] and "phase='preparing'" in body["data-proposer"]
    two = g["states"][one]["moves"][0]["to"]
    assert body["data-after-second"].split("|")[:2] == [str(two), f"0,{one},{two}"]
    assert body["data-after-back"].split("|")[:2] == [str(one), f"0,{one}"]
    assert body["data-after-reset"] == body["data-start"]
    # the DOM as left: the initial state, its two submits, its three nodes, no trail
    assert [dom.text[i] for i, _ in dom.with_class("move")] == [
        "submit 'x' to n1", "submit 'y' to n2"]
    assert [a["data-node"] for _, a in dom.with_class("node")] == ["n1", "n2", "n3"]
    assert [dom.text[i] for i, _ in dom.with_class("crumb")] == ["initial state 0"]
    assert not dom.with_class("broken")


@pytest.fixture(scope="module")
def counterexample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Move]]]:
    with planted(BUG):
        adapter = wide(load_models("synod")["synod"]("small"))
        path = scripted_path(adapter, STEPS)
        yield write_browser(adapter, tmp_path_factory.mktemp("cx") / "cx.html", path=path,
                            limit=20), path


def assert_opens_at_the_end(dom: Elements, graph: dict[str, Any], path: list[Move]) -> None:
    body = attrs_of(dom, "body")
    assert body["data-ready"] == "1" and body["data-at-end"] == "1"
    assert len(graph["path"]) == len(path) + 1 and graph["broken"] == [BROKEN]
    assert body["data-state"] == str(graph["path"][-1])
    assert body["data-trail"] == ",".join(map(str, graph["path"]))
    assert [dom.text[i] for i, _ in dom.with_class("crumb")] == [
        "initial state 0", *(f"state {s}" for s in graph["path"][1:])]
    steps = [dom.text[i].strip(" \u2192") for i, _ in dom.with_class("step")]
    assert steps == [m.label for m in path]
    broken = dom.with_class("broken")
    assert [a["data-name"] for _, a in broken] == [BROKEN]
    assert "BROKEN" in dom.text[broken[0][0]] and "P2c" in dom.text[broken[0][0]]


def test_a_counterexample_opens_at_its_end(chromium: str, counterexample: tuple[Path, list[Move]],
                                           tmp_path: Path) -> None:
    page, path = counterexample
    graph = graph_of(page)
    probe = """
var b = document.body.dataset;
b.opened = b.state + "|" + b.atEnd + "|" + document.querySelectorAll(".broken").length;
document.getElementById("back").click();
b.back = b.state + "|" + b.atEnd + "|" + document.querySelectorAll(".broken").length;
document.getElementById("to-path").click();
b.again = b.state + "|" + b.atEnd + "|" + document.querySelectorAll(".broken").length;
b.probed = "1";
"""
    dom, _, console = load(chromium, probed(page, tmp_path / "p.html", probe), tmp_path)
    assert console == ""
    body = attrs_of(dom, "body")
    assert body["data-opened"] == f"{graph['path'][-1]}|1|1"
    assert body["data-back"] == f"{graph['path'][-2]}|0|0"  # one step before: it holds
    assert body["data-again"] == body["data-opened"]
    assert_opens_at_the_end(dom, graph, path)  # as left: back at the end


@pytest.mark.slow
def test_the_explorers_counterexample_opens_at_its_end(chromium: str, tmp_path: Path) -> None:
    """The path is the explorer's own (BFS, the shortest): the page shows it whole."""
    with planted(BUG):
        adapter = wide(load_models("synod")["synod"]("small"))
        result = Explorer(adapter).run("bfs")
        assert [c.prop for c in result.counterexamples] == [BROKEN]
        path = result.counterexamples[0].path
        page = write_browser(adapter, tmp_path / "cx.html", path=path, limit=200)
    assert len(path) == len(STEPS)  # the counterexample written out above
    assert all(m.label.startswith(step) for m, step in zip(path, STEPS, strict=True))
    dom, _, console = load(chromium, page, tmp_path)
    assert console == ""
    assert_opens_at_the_end(dom, graph_of(page), path)

