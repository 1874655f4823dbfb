"""The space-time page in a real browser: headless Chromium (Debian's ``chromium``).

``chromium --headless=new --dump-dom URL`` loads the page, runs its scripts and prints
the DOM as it is *after* they ran; ``--enable-logging=stderr`` prints every console
message (and every uncaught exception) as an ``INFO:CONSOLE`` line on stderr. The page
sets ``<body data-ready="1">`` at the end of its script and keeps its view in
``<svg data-zoom=... data-view="start,end">``, so the dumped DOM shows whether the script
ran to the end and what it did. Interaction (wheel, drag, the reset button) is driven by
a script appended to a copy of the page, which records what it saw on ``<body>``.

Chromium is installed by ``scripts/_ensure_chromium.sh`` when missing; where it cannot
be (no apt-get, not root), these tests are skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from protocols.check.spacetime import render_spacetime
from tests.check.test_spacetime import NODES, T0, Elements, SyntheticRun, synthetic_run

ROOT = Path(__file__).resolve().parents[2]
ENSURE = ROOT / "scripts" / "_ensure_chromium.sh"
WINDOW = "1400,900"


def chromium_binary() -> str | None:
    """The ``chromium`` on PATH, or None."""
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium() -> str:
    found = chromium_binary()
    if found is not None:
        return found
    proc = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True,
                          timeout=900, check=False)
    if proc.returncode == 3:
        pytest.skip(f"chromium is not installed and cannot be here: {proc.stderr.strip()}")
    found = chromium_binary()
    if proc.returncode != 0 or found is None:
        pytest.fail(f"{ENSURE} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return found


def load(binary: str, page: Path, tmp: Path, fragment: str = "",
         flags: Sequence[str] = ()) -> tuple[Elements, str, str]:
    """Load ``page`` headless; return the parsed DOM after scripts, the DOM text, and the
    console lines (messages and uncaught exceptions) Chromium logged, in any frame."""
    url = page.resolve().as_uri() + fragment
    proc = subprocess.run(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         f"--user-data-dir={tmp / 'profile'}", f"--window-size={WINDOW}",
         "--enable-logging=stderr", "--v=0", *flags, "--dump-dom", url],
        capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = "\n".join(line for line in proc.stderr.splitlines()
                        if ":CONSOLE" in line or "Uncaught" in line)
    dom = Elements()
    dom.feed(proc.stdout)
    return dom, proc.stdout, console


def attrs_of(dom: Elements, tag: str, **match: str) -> dict[str, str]:
    return next(a for t, a in dom.tags
                if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in match.items()))


@pytest.fixture(scope="module")
def run() -> SyntheticRun:
    return synthetic_run()


@pytest.fixture(scope="module")
def page(run: SyntheticRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_spacetime(run.events, tmp_path_factory.mktemp("page") / "run.html",
                            faults=run.faults, operations=run.operations, result=run.result,
                            title="synthetic run in chromium")


def test_the_page_loads_without_errors_and_its_script_ran(chromium: str, page: Path,
                                                          run: SyntheticRun,
                                                          tmp_path: Path) -> None:
    dom, text, console = load(chromium, page, tmp_path)
    assert console == ""
    assert attrs_of(dom, "body").get("data-ready") == "1"
    svg = attrs_of(dom, "svg", id="st")
    assert svg["data-zoom"] == "1"
    start, end = map(float, svg["data-view"].split(","))
    assert start == pytest.approx(0, abs=1e-6)
    assert end == pytest.approx(float(svg["data-span"]), abs=1e-5)
    # the script fitted the width to the window and drew the axis
    assert int(svg["width"]) == 1400 - 32
    ticks = re.search(r'<g class="axis">(.*?)</g>', text, re.S)
    assert ticks is not None and ticks[1].count("<text") >= 4
    assert "1.5 s" in ticks[1]
    # lanes, arrows, bands, faults, operations, as the generator made them
    assert [a["data-node"] for _, a in dom.with_class("lane")] == list(NODES)
    msgs = [a for _, a in dom.with_class("msg")]
    delivered = Counter(a["data-mid"] for a in msgs if "lost" not in a["class"])
    assert delivered == Counter({mid: len(rs) for mid, rs in run.recvs.items()})
    assert {a["data-mid"] for a in msgs if "lost" in a["class"]} == set(run.sends) - set(
        run.recvs)
    labels = {dom.text[i] for i, a in dom.with_class("band-label")
              if "display: none" not in a.get("style", "")}
    assert {"leader t2", "leader t3", "follower t3"} <= labels
    assert [dom.text[i] for i, _ in dom.with_class("fault-label")] == [
        label for _, _, label in run.faults]
    assert len(dom.with_class("op")) == len(run.operations)
    assert [a["data-key"] for _, a in dom.with_class("op") if "culprit" in a["class"]] == ["y"]


def test_the_url_fragment_zooms_and_moves_every_arrow(chromium: str, page: Path,
                                                      tmp_path: Path) -> None:
    plain, _, _ = load(chromium, page, tmp_path / "plain")
    dom, _, console = load(chromium, page, tmp_path / "zoomed", "#zoom=4&t=1.25")
    assert console == ""
    assert attrs_of(dom, "body").get("data-ready") == "1"
    svg = attrs_of(dom, "svg", id="st")
    assert svg["data-zoom"] == "4"
    start, end = map(float, svg["data-view"].split(","))
    span = float(svg["data-span"])
    assert end - start == pytest.approx(span / 4, rel=1e-4)
    assert (start + end) / 2 == pytest.approx(1.25, abs=1e-4)
    # every arrow inside the view sits where x = left + (t - start) * px/s, at 4x the
    # plain page's px/s; every arrow outside it is hidden
    left, plot_w = float(svg["data-left"]), float(svg["width"]) - 16 - float(svg["data-left"])
    plain_pps = plot_w / span
    for _, a in plain.with_class("msg"):
        if "lost" not in a["class"]:
            x1 = left + float(a["data-s"]) * plain_pps
            assert float(a["x1"]) == pytest.approx(x1, abs=0.06)
    inside = outside = 0
    for _, a in dom.with_class("msg"):
        if "lost" in a["class"]:
            continue
        s, e = float(a["data-s"]), float(a["data-e"])
        if start <= s and e <= end:
            inside += 1
            pps = 4 * plain_pps
            assert float(a["x1"]) == pytest.approx(left + (s - start) * pps, abs=0.06)
            assert float(a["x2"]) == pytest.approx(left + (e - start) * pps, abs=0.06)
        elif e < start - 0.05 or s > end + 0.05:  # 0.05 s is ~80 px here
            outside += 1
            assert "display: none" in a.get("style", "")
    assert inside > 50 and outside > 250


def test_wheel_drag_and_reset_work_in_the_browser(chromium: str, page: Path,
                                                  tmp_path: Path) -> None:
    probe = """<script>
(function () {
  var svg = document.getElementById("st"), b = document.body.dataset;
  var box = svg.getBoundingClientRect();
  var at = {clientX: box.left + 700, clientY: box.top + 120, bubbles: true, cancelable: true};
  svg.dispatchEvent(new WheelEvent("wheel", Object.assign({deltaY: -400}, at)));
  window.spacetime.flush();
  b.afterWheel = svg.dataset.zoom + "|" + svg.dataset.view;
  svg.dispatchEvent(new PointerEvent("pointerdown", Object.assign({button: 0}, at)));
  svg.dispatchEvent(new PointerEvent("pointermove",
                    Object.assign({}, at, {clientX: at.clientX + 150})));
  svg.dispatchEvent(new PointerEvent("pointerup", at));
  window.spacetime.flush();
  b.afterDrag = svg.dataset.zoom + "|" + svg.dataset.view;
  b.hash = location.hash;
  document.getElementById("reset").click();
  window.spacetime.flush();
  b.afterReset = svg.dataset.zoom + "|" + svg.dataset.view;
  b.probed = "1";
})();
</script></body>"""
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", probe),
                      encoding="utf-8")
    dom, _, console = load(chromium, probed, tmp_path)
    assert console == ""
    body = attrs_of(dom, "body")
    assert body.get("data-probed") == "1"
    wheel_zoom, wheel_view = body["data-after-wheel"].split("|")
    drag_zoom, drag_view = body["data-after-drag"].split("|")
    assert float(wheel_zoom) > 2  # exp(400 * 0.002) = 2.2
    assert drag_zoom == wheel_zoom
    w0, w1 = map(float, wheel_view.split(","))
    d0, d1 = map(float, drag_view.split(","))
    assert d0 < w0 and d1 - d0 == pytest.approx(w1 - w0)  # dragged right: earlier times
    assert body["data-hash"].startswith(f"#zoom={wheel_zoom}&t=")
    assert body["data-after-reset"].split("|")[0] == "1"


def test_the_console_check_sees_an_error(chromium: str, tmp_path: Path) -> None:
    """The negative control: a page that throws is caught by the same check."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><html><body><script>document.body.dataset.ready = '1';"
                   "notDefinedAnywhere();</script></body></html>")
    dom, _, console = load(chromium, bad, tmp_path)
    assert attrs_of(dom, "body").get("data-ready") == "1"
    assert "Uncaught ReferenceError: notDefinedAnywhere is not defined" in console


def test_times_in_the_page_are_seconds_after_the_first_event(page: Path) -> None:
    svg = re.search(r'data-t0="([^"]+)"', page.read_text(encoding="utf-8"))
    assert svg is not None and float(svg[1]) == T0
