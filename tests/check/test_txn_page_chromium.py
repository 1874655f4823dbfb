"""The transaction graph page in headless Chromium, the way the space-time page is tested
(``tests/check/test_spacetime_chromium.py``: its ``chromium`` fixture finds or installs
the browser, its ``load`` dumps the DOM after the scripts ran and the console lines)."""

from __future__ import annotations

from pathlib import Path

from protocols.check.elle import check_transactions
from protocols.check.txn_page import render_txn_page
from tests.check.test_elle import Hist
from tests.check.test_spacetime_chromium import chromium, load

__all__ = ["chromium"]  # the fixture, used by name below


def anomalous() -> Hist:
    """Read skew and write skew in separate components, an aborted read, and a garbage
    read of a value that would end the page's script if it were not escaped."""
    return (Hist()
            .ok(0, [["w", "x", 1], ["w", "y", 1]], 0, 5)
            .ok(1, [["r", "x", None], ["r", "y", 1]], 0, 5)
            .ok(2, [["r", "a", None], ["r", "b", None], ["w", "b", 1]], 0, 5)
            .ok(3, [["r", "a", None], ["r", "b", None], ["w", "a", 1]], 0, 5)
            .fail(4, [["w", "z", 1]], 0, 1)
            .ok(5, [["r", "z", 1], ["r", "c", "</script>"]], 6, 7))


def test_the_page_draws_each_cycle(chromium: str, tmp_path: Path) -> None:
    result = check_transactions(anomalous().history(), level="snapshot-isolation")
    assert {"G-single", "G2-item", "G1a"} <= set(result.names())
    page = tmp_path / "txn.html"
    page.write_text(render_txn_page(result, title="planted"))
    dom, text, console = load(chromium, page, tmp_path)
    assert "Uncaught" not in console, console
    body = next(a for t, a in dom.tags if t == "body")
    assert body.get("data-ready") == "1", text[-2000:]
    cycles = [a for a in result.anomalies if a.edges]
    assert body.get("data-cycles") == str(len(cycles))
    svgs = [a for t, a in dom.tags if t == "svg" and "data-cycle" in a]
    assert [s["data-txns"] for s in svgs] == [",".join(map(str, a.txns)) for a in cycles]
    # every txn of every cycle is a box with its ops; every edge an arrow with its kind
    boxes = [a["data-txn"] for _, a in dom.with_class("txn")]
    assert boxes == [f"T{t}" for a in cycles for t in a.txns]
    edges = [(a["data-from"], a["data-to"], a["data-kind"]) for _, a in dom.with_class("edge")]
    assert edges == [(str(x), str(y), k) for a in cycles for x, y, k, _ in a.edges]
    labels = [dom.text[i] for i, _ in dom.with_class("edge-label")]
    assert sorted(labels) == sorted(k for a in cycles for *_, k, _ in a.edges)
    assert labels.count("rw") == 3 and labels.count("wr") == 1
    ops = {dom.text[i] for i, _ in dom.with_class("op")}
    assert {"r x nil", "r y 1", "w x 1", "w b 1"} <= ops
    # the reads with no cycle are listed; the verdict is shown
    listed = [a["data-name"] for _, a in dom.with_class("anomaly-item")]
    assert listed == ["G1a", "garbage-read"]
    assert "read c=</script>, which no txn wrote" in text.replace("&lt;", "<").replace(
        "&gt;", ">")
    assert "snapshot-isolation: NOT valid" in text
    assert "allowed at snapshot-isolation" in text  # the write skew
