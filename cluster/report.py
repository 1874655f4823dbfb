"""``scripts/report DIR``: one page for a run's folder, ``DIR/index.html``.

A run's folder — a demo's (``scripts/demo``), a cluster's (``scripts/cluster up``), a
simulated run's (``scripts/sim --spacetime DIR``) — holds what the run left: its verdicts
and fault intervals (``verdict.json``, ``protocols.check.record``), the history timeline
(``timeline.html``), the space-time diagram (``spacetime.html``) and its ShiViz log, the
nemesis log (``nemesis.jsonl``), the nodes' logs and event logs. The page puts them
together: the verdict first (valid, violation, unknown or not checked, each checker with
its summary), the timeline and the diagram embedded, the faults as a table (start, end,
what; each a link to the diagram zoomed on it), the nodes' files, everything else found,
and what is missing and why. It is self-contained (no script, nothing from the network)
and every piece of run data in it is escaped.

The demos write their record and the page at their end (``finish_demo``);
``scripts/report DIR`` writes the page for any run folder (again, after a rerun). A folder
that is not a run's gets one error line and exit status 2.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cluster.nemesis import fault_intervals
from protocols.check.record import (
    RECORD_FILE,
    Judgement,
    RecordError,
    RunRecord,
    make_record,
    read_record,
    write_record,
)

__all__ = ["INDEX", "NotARunFolder", "finish_demo", "main", "survey", "write_report",
           "write_run_page"]

INDEX = "index.html"
TIMELINE, SPACETIME, SHIVIZ = "timeline.html", "spacetime.html", "spacetime.shiviz.log"
NEMESIS_LOG, CLUSTER_FILE = "nemesis.jsonl", "cluster.json"
SHIVIZ_URL = "https://bestchai.bitbucket.io/shiviz/"
# a run's folder has at least one of these
MARKERS = (RECORD_FILE, NEMESIS_LOG, CLUSTER_FILE, TIMELINE, SPACETIME, SHIVIZ)
_SVG_AXIS = re.compile(r'<svg id="st"[^>]*?data-span="([^"]+)" data-t0="([^"]+)" '
                       r'data-maxzoom="([^"]+)"')
_HEAD_BYTES = 1 << 20  # the diagram's <svg> comes after its style and legend
NEWLINE = b"\n"


class NotARunFolder(ValueError):
    """The folder does not exist, or holds nothing a run leaves."""


@dataclass(frozen=True, slots=True)
class Axis:
    """The space-time diagram's time axis: its times are seconds after ``t0``."""

    t0: float
    span: float
    max_zoom: float

    def link(self, start: float, end: float) -> str:
        """The diagram's URL fragment that opens zoomed on [start, end] (run clock)."""
        zoom = min(self.max_zoom, max(1.0, self.span / max(3 * (end - start), 1e-9)))
        return f"{SPACETIME}#zoom={zoom:.4g}&t={(start + end) / 2 - self.t0:.6f}"


@dataclass(slots=True)
class Folder:
    """What a run's folder holds."""

    path: Path
    record: RunRecord | None
    cluster: dict[str, Any] | None
    nemesis: list[dict[str, Any]] | None  # None: no nemesis.jsonl
    nemesis_bad_lines: int
    axis: Axis | None
    files: list[str] = field(default_factory=list)  # top-level file names, sorted
    dirs: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.files

    @property
    def simulated(self) -> bool:
        return self.record is not None and self.record.source == "sim"

    def node_ids(self) -> list[str]:
        """The nodes: the cluster's, and any whose event log or data is here."""
        ids = set((self.cluster or {}).get("nodes", {}))
        ids |= {f[len("events."):-len(".jsonl")] for f in self.files
                if f.startswith("events.") and f.endswith(".jsonl")}
        ids |= {d for d in self.dirs if f"{d}.log" in self.files}
        return sorted(ids, key=_natural)


# ------------------------------------------------------------------------ reading
def survey(directory: str | Path) -> Folder:
    """Read what ``directory`` holds; NotARunFolder if it is not a run's folder,
    RecordError if its ``verdict.json`` is malformed."""
    path = Path(directory)
    if not path.is_dir():
        raise NotARunFolder(f"{path}: no such directory")
    entries = sorted(path.iterdir(), key=lambda p: _natural(p.name))
    files = [p.name for p in entries if p.is_file()]
    if not any(m in files for m in MARKERS) and not any(
            f.startswith("events.") and f.endswith(".jsonl") for f in files):
        raise NotARunFolder(f"{path}: not a run folder (none of {', '.join(MARKERS)} or "
                            "events.*.jsonl in it)")
    nemesis, bad = _nemesis_log(path / NEMESIS_LOG)
    return Folder(path, read_record(path), _cluster(path / CLUSTER_FILE), nemesis, bad,
                  _axis(path / SPACETIME), [f for f in files if f != INDEX],
                  [p.name for p in entries if p.is_dir()])


def _nemesis_log(path: Path) -> tuple[list[dict[str, Any]] | None, int]:
    """The log's entries and how many lines were not entries (a torn last line)."""
    if not path.is_file():
        return None, 0
    entries, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict) and isinstance(entry.get("time"), int | float) \
                and "action" in entry:
            entries.append(entry)
        elif line.strip():
            bad += 1
    return entries, bad


def _cluster(path: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _axis(path: Path) -> Axis | None:
    """The diagram's axis, read from its ``<svg id="st">`` (None without a diagram)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return None
    m = _SVG_AXIS.search(head)
    if m is None:
        return None
    span, t0, max_zoom = (float(v) for v in m.groups())
    return Axis(t0, span, max_zoom)


def _natural(text: str) -> list[Any]:
    """n2 before n10."""
    return [int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", text)]


# ------------------------------------------------------------------------ the page
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _href(name: str) -> str:
    return _e(quote(name))


def _size(path: Path) -> str:
    n = float(path.stat().st_size)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _count(path: Path, needle: bytes) -> int:
    """How often ``needle`` occurs in the file (read a MB at a time: logs grow large)."""
    with open(path, "rb") as f:
        return sum(chunk.count(needle) for chunk in iter(lambda: f.read(1 << 20), b""))


STATUS_TEXT = {"ok": "VALID", "violation": "VIOLATION", "unknown": "UNKNOWN",
               None: "NOT CHECKED"}


def _verdict(folder: Folder) -> str:
    record = folder.record
    status = record.status if record is not None else None
    if record is None:
        why = (f"this folder has no {RECORD_FILE}: nothing here says whether the run was "
               "correct (the demos and scripts/sim --spacetime write one)")
    elif not record.verdicts:
        why = "the run recorded no check"
    else:
        why = "; ".join(f"{v.check}: {v.status}" for v in record.verdicts)
    rows = "".join(
        f'<tr class="check {_e(v.status)}" data-check="{_e(v.check)}" '
        f'data-status="{_e(v.status)}"><td>{_e(v.check)}</td>'
        f'<td class="badge">{_e(STATUS_TEXT[v.status])}</td>'
        f"<td><pre>{_e(v.summary)}</pre></td></tr>"
        for v in (record.verdicts if record is not None else ()))
    table = (f'<table class="checks"><tr><th>check</th><th>verdict</th><th>summary</th></tr>'
             f"{rows}</table>") if rows else ""
    return (f'<section id="verdict" class="verdict {_e(status or "none")}">'
            f'<div class="banner" data-status="{_e(status or "none")}">'
            f"{_e(STATUS_TEXT[status])}</div><p>{_e(why)}</p>{table}</section>")


def _title(folder: Folder) -> str:
    record = folder.record
    return (record.title if record is not None else "") or (
        f"{_protocol(folder) or 'a'} run in {folder.path.name}")


def _protocol(folder: Folder) -> str:
    record = folder.record
    return (record.protocol if record is not None else "") or str(
        (folder.cluster or {}).get("protocol", ""))


def _header(folder: Folder) -> str:
    record = folder.record
    kind = ("a simulated run (simulated time)" if folder.simulated else
            "a demo on real processes" if record is not None else
            "a cluster of real processes" if folder.cluster else "a run")
    facts = [f"protocol <b>{_e(_protocol(folder) or '?')}</b>", _e(kind)]
    if nodes := folder.node_ids():
        facts.append(f"{len(nodes)} nodes ({_e(', '.join(nodes))})")
    facts.append(f"folder <code>{_e(folder.path.resolve())}</code>")
    again = ""
    if record is not None and record.replay:
        label = "replay (the same run, event for event)" if folder.simulated else "run again"
        again = f'<p>{label}: <code class="replay">{_e(record.replay)}</code></p>'
    extra = ""
    if record is not None and record.extra:
        extra = '<table class="extra">' + "".join(
            f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in record.extra.items()
        ) + "</table>"
    return (f'<h1>{_e(_title(folder))}</h1><p class="meta">{" · ".join(facts)}</p>'
            + _verdict(folder) + again + extra)


def _missing(folder: Folder) -> list[str]:
    """What a run of this kind could have left and did not, and why that may be."""
    out = []
    if folder.record is None:
        out.append(f"{RECORD_FILE}: no verdict (only the demos and scripts/sim --spacetime "
                   "leave one; a chaos test's or a `scripts/cluster up` folder has none)")
    if not folder.has(TIMELINE):
        out.append(f"{TIMELINE}: no history timeline (the run drew none: only the KV "
                   "demos and scripts/sim runs with a workload do)")
    events = any(f.startswith("events.") for f in folder.files)
    if not folder.has(SPACETIME):
        out.append(f"{SPACETIME}: no space-time diagram (" + (
            "the event logs are here: `scripts/cluster --dir DIR draw` draws it)" if events
            else "the nodes kept no event log: `scripts/cluster up --event-log`, or "
                 "scripts/sim --spacetime DIR)"))
    if not folder.has(SHIVIZ):
        out.append(f"{SHIVIZ}: no ShiViz log (written with the space-time diagram)")
    if folder.nemesis is None and not folder.simulated:
        out.append(f"{NEMESIS_LOG}: no nemesis log (the cluster runner writes it; this "
                   "folder's run was not on a LocalCluster, or it was deleted)")
    if not folder.simulated and not any(f"{n}.log" in folder.files
                                        for n in folder.node_ids()):
        out.append("node logs: none (<node>.log is written by each node process)")
    return out


def _missing_section(folder: Folder) -> str:
    missing = _missing(folder)
    if not missing:
        return '<section id="missing"><p class="complete">nothing missing</p></section>'
    items = "".join(f'<li class="missing-item">{_e(m)}</li>' for m in missing)
    return f'<section id="missing"><h2>missing</h2><ul>{items}</ul></section>'


VIEW_TEXT = {
    TIMELINE: ("history timeline", "every client operation as a bar from call to return, "
               "one lane per client; for a key that is not linearizable, the operation "
               "that cannot be placed in red; the faults shaded"),
    SPACETIME: ("space-time diagram", "one lane per node, every message an arrow, roles "
                "as bands, the faults shaded, the clients' operations per key below; "
                "wheel to zoom, drag to pan"),
}


def _views(folder: Folder) -> str:
    parts = ['<section id="views"><h2>views</h2>']
    for name, (label, text) in VIEW_TEXT.items():
        if folder.has(name):
            parts.append(f'<h3><a class="view" href="{_href(name)}">{_e(label)}</a> '
                         f'<span class="size">{_size(folder.path / name)}</span></h3>'
                         f'<p>{_e(text)}</p><iframe src="{_href(name)}" loading="lazy" '
                         f'title="{_e(label)}"></iframe>')
        else:
            parts.append(f'<h3 class="absent">{_e(label)}: not in this folder</h3>')
    if folder.has(SHIVIZ):
        regex = "spacetime.shiviz.shiviz-regex.txt"
        parts.append(
            f'<h3><a class="view" href="{_href(SHIVIZ)}">ShiViz log</a> <span class="size">'
            f"{_size(folder.path / SHIVIZ)}</span></h3><p>the same run for ShiViz: paste "
            f'it at <a href="{_e(SHIVIZ_URL)}">{_e(SHIVIZ_URL)}</a> with the parser regex '
            + (f'in <a href="{_href(regex)}">{_e(regex)}</a>' if folder.has(regex) else
               "(its regex file is missing)") + "</p>")
    parts.append("</section>")
    return "".join(parts)


def _faults(folder: Folder) -> tuple[list[tuple[float, float | None, str]], str]:
    """The fault intervals and where they come from: the record has every window the
    diagrams shade (a demo's own, such as 2PC's blocked window), the nemesis log its
    own actions."""
    if folder.record is not None and (folder.record.faults or folder.nemesis is None):
        faults: list[tuple[float, float | None, str]] = sorted(folder.record.faults)
        return faults, f"from {RECORD_FILE}"
    if folder.nemesis is not None:
        return fault_intervals(folder.nemesis), f"from {NEMESIS_LOG}"
    return [], ""


def _time_base(folder: Folder, faults: Sequence[tuple[float, float | None, str]]
               ) -> tuple[float, str]:
    """What the table's times count from, said in words."""
    clock = "simulated seconds" if folder.simulated else "seconds"
    if folder.axis is not None:
        return folder.axis.t0, f"{clock} on the space-time diagram's axis"
    if folder.nemesis:
        return folder.nemesis[0]["time"], f"{clock} after the nemesis log's first entry"
    starts = [s for s, _, _ in faults]
    return (min(starts) if starts else 0.0), f"{clock} after the first fault"


def _nemesis(folder: Folder) -> str:
    faults, source = _faults(folder)
    t0, base = _time_base(folder, faults)
    parts = ['<section id="nemesis"><h2>nemesis: faults</h2>']
    if folder.nemesis is not None:
        parts.append(f'<p>the raw log: <a href="{_href(NEMESIS_LOG)}">{NEMESIS_LOG}</a> '
                     f"({len(folder.nemesis)} entries"
                     + (f", {folder.nemesis_bad_lines} unreadable lines skipped"
                        if folder.nemesis_bad_lines else "") + ")</p>")
    if not faults:
        parts.append('<p class="no-faults">no fault ' + (
            "was injected" if source else "log: this folder has neither a nemesis log "
            f"nor a {RECORD_FILE} with faults") + "</p>")
    else:
        parts.append(f"<p>{len(faults)} fault interval{'s' * (len(faults) != 1)} "
                     f"{_e(source)}; times in {_e(base)}</p>")
        parts.append(_fault_table(folder, faults, t0))
    parts.append(_other_entries(folder, t0))
    parts.append("</section>")
    return "".join(parts)


def _fault_table(folder: Folder, faults: Sequence[tuple[float, float | None, str]],
                 t0: float) -> str:
    rows = []
    for i, (start, end, what) in enumerate(faults, 1):
        wall = (f' title="{_e(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start)))}"'
                if not folder.simulated and start > 1e9 else "")
        see = ""
        if folder.axis is not None and folder.has(SPACETIME):
            link = folder.axis.link(start, end if end is not None else start)
            see = f'<a class="see" href="{_e(link)}">in the diagram</a>'
        rows.append(
            f'<tr class="fault"><td>{i}</td><td{wall}>{start - t0:.3f}</td>'
            f"<td>{'never ended' if end is None else f'{end - t0:.3f}'}</td>"
            f"<td>{'' if end is None else f'{end - start:.3f}'}</td>"
            f'<td class="what">{_e(what)}</td><td>{see}</td></tr>')
    return ('<table class="faults"><tr><th>#</th><th>start</th><th>end</th>'
            "<th>duration</th><th>what</th><th></th></tr>" + "".join(rows) + "</table>")


def _other_entries(folder: Folder, t0: float) -> str:
    """The nemesis log's entries that are no fault's start or end: the cluster going up
    and down, crash points, nodes joining and leaving."""
    other = [e for e in folder.nemesis or () if e.get("action") not in ("start", "end")]
    if not other:
        return ""
    rows = "".join(
        f'<tr class="entry"><td>{e["time"] - t0:.3f}</td><td>{_e(e["action"])}</td>'
        f"<td>{_e(_args(e))}</td></tr>" for e in other)
    return ("<h3>other nemesis log entries</h3><table class=\"entries\"><tr><th>time</th>"
            f"<th>action</th><th>details</th></tr>{rows}</table>")


def _args(entry: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("time", "action"))


def _nodes(folder: Folder) -> str:
    ids = folder.node_ids()
    if not ids:
        return ""
    rows = []
    for n in ids:
        cells = []
        for name, what in ((f"{n}.log", "log"), (f"events.{n}.jsonl", "events")):
            if folder.has(name):
                path = folder.path / name
                note = ""
                if what == "log":
                    tracebacks = _count(path, b"Traceback")
                    note = (f' <span class="bad">{tracebacks} traceback'
                            f"{'s' * (tracebacks != 1)}</span>" if tracebacks else "")
                else:
                    note = f" ({_count(path, NEWLINE)} events)"
                cells.append(f'<td><a class="node-file" href="{_href(name)}">{_e(name)}</a> '
                             f'<span class="size">{_size(path)}</span>{note}</td>')
            else:
                cells.append('<td class="absent">none</td>')
        data = f"<code>{_e(n)}/</code>" if n in folder.dirs else "none"
        rows.append(f'<tr class="node" data-node="{_e(n)}"><td>{_e(n)}</td>{"".join(cells)}'
                    f"<td>{data}</td></tr>")
    return ('<section id="nodes"><h2>nodes</h2><table class="nodes"><tr><th>node</th>'
            "<th>log</th><th>event log</th><th>data directory</th></tr>" + "".join(rows)
            + "</table></section>")


def _others(folder: Folder, shown: Iterable[str]) -> str:
    rest = [f for f in folder.files if f not in set(shown)]
    items = "".join(f'<li><a class="other" href="{_href(f)}">{_e(f)}</a> '
                    f'<span class="size">{_size(folder.path / f)}</span></li>' for f in rest)
    dirs = [d for d in folder.dirs if d not in folder.node_ids()]
    if dirs:
        items += f"<li>directories: {_e(', '.join(d + '/' for d in dirs))}</li>"
    if not items:
        return ""
    return f'<section id="files"><h2>other files</h2><ul>{items}</ul></section>'


def _shown(folder: Folder) -> set[str]:
    """The files the sections above already link."""
    shown = {RECORD_FILE, TIMELINE, SPACETIME, SHIVIZ, NEMESIS_LOG,
             "spacetime.shiviz.shiviz-regex.txt"}
    for n in folder.node_ids():
        shown |= {f"{n}.log", f"events.{n}.jsonl"}
    return shown


STYLE = """
body { font-family: system-ui, sans-serif; margin: 16px 24px; color: #222; max-width: 1500px; }
h1 { margin: 0 0 4px 0; font-size: 22px; } h2 { margin: 22px 0 6px 0; font-size: 18px; }
h3 { margin: 14px 0 4px 0; font-size: 15px; } .meta { color: #555; margin: 2px 0 8px 0; }
code { background: #f3f3f3; padding: 1px 4px; }
pre { margin: 0; white-space: pre-wrap; font-size: 12px; }
table { border-collapse: collapse; margin: 4px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f6f6f6; }
.verdict { border: 2px solid #999; border-radius: 6px; padding: 8px 14px; margin: 10px 0; }
.verdict .banner { font-size: 28px; font-weight: 700; letter-spacing: 1px; }
.verdict.ok { border-color: #2a8a2a; background: #eef9ee; } .verdict.ok .banner { color: #1c6e1c; }
.verdict.violation { border-color: #c22; background: #fdecec; }
.verdict.violation .banner { color: #b00; }
.verdict.unknown { border-color: #c90; background: #fff7e6; }
.verdict.unknown .banner { color: #a60; }
.verdict.none { border-color: #999; background: #f4f4f4; } .verdict.none .banner { color: #666; }
tr.check.ok .badge { color: #1c6e1c; font-weight: 700; }
tr.check.violation .badge { color: #b00; font-weight: 700; }
tr.check.unknown .badge { color: #a60; font-weight: 700; }
#missing ul { margin: 4px 0; color: #a33; } .complete { color: #1c6e1c; }
.absent { color: #999; } .size { color: #888; font-size: 12px; font-weight: normal; }
.bad { color: #b00; font-weight: 600; }
iframe { width: 100%; height: 520px; border: 1px solid #ccc; }
td.what { font-family: ui-monospace, monospace; }
"""


def render(folder: Folder) -> str:
    """The page, as text."""
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f"<title>{_e(_title(folder))}</title>\n<style>{STYLE}</style></head>\n<body>"
            + _header(folder)
            + _missing_section(folder) + _views(folder) + _nemesis(folder) + _nodes(folder)
            + _others(folder, _shown(folder))
            + f'\n<p class="meta">written by scripts/report at '
              f'{_e(time.strftime("%Y-%m-%d %H:%M:%S"))}</p>\n</body></html>\n')


def write_report(directory: str | Path) -> Path:
    """Write ``directory/index.html`` for the run there; return its path."""
    folder = survey(directory)
    path = folder.path / INDEX
    path.write_text(render(folder), encoding="utf-8")
    return path


def write_run_page(directory: str | Path, record: RunRecord) -> Path:
    """Write the run's ``verdict.json``, then its page; return the page's path."""
    write_record(directory, record)
    return write_report(directory)


def finish_demo(directory: Path, *, title: str, protocol: str,
                verdicts: Iterable[Judgement], faults: Sequence[tuple[float, float, str]],
                left: Sequence[int], command: str) -> Path:
    """A demo's last step: its verdicts, with "no process left" as one more check, and
    its faults as ``verdict.json``, and the page; ``command`` runs the demo again."""
    teardown = Judgement.holds("processes left", not left,
                               "none: every node and proxy process stopped" if not left
                               else f"still running: pids {', '.join(map(str, left))}")
    return write_run_page(directory, make_record(title, protocol, "demo",
                                                 [*verdicts, teardown], faults=faults,
                                                 replay=command))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", help="the run's folder (a demo's --dir, a cluster's, or "
                                    "scripts/sim --spacetime DIR)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.dir)
    except (NotARunFolder, RecordError, OSError) as e:  # OSError: unreadable, read-only
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
