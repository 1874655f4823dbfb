"""A self-contained HTML timeline of a history (no external assets, opens offline).

One lane per client process; each operation is a bar from its invocation to its
completion (an unknown outcome runs to the right edge, hatched). For a key that is not
linearizable, the longest linearizable prefix is green, the operation that cannot be
placed is red, and other operations of that key are amber; operations on other keys are
grey. Nemesis intervals are shaded behind the lanes. Hover a bar for its details.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

from protocols.check.history import History, Operation
from protocols.check.linearizability import CheckResult

__all__ = ["render_timeline"]

_LANE_PX = 26
_WIDTH_PX = 1400
_LEFT_PX = 70


def render_timeline(history: History | Sequence[Operation], result: CheckResult | None,
                    path: str | Path,
                    nemesis: Sequence[tuple[float, float, str]] = ()) -> Path:
    """Write the timeline to ``path`` and return it."""
    ops = history.operations() if isinstance(history, History) else list(history)
    bad = result.violation if result is not None else None
    prefix = {id(op) for op in bad.prefix} if bad else set()
    culprit = bad.culprit if bad else None
    finite = [t for op in ops for t in (op.call, op.ret) if t != math.inf]
    finite += [t for start, end, _ in nemesis for t in (start, end)]
    t0, t1 = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = max(t1 - t0, 1e-9)
    processes = sorted({op.process for op in ops})
    lane = {p: i for i, p in enumerate(processes)}

    def x(t: float) -> float:
        t = t1 if t == math.inf else t
        return _LEFT_PX + (t - t0) / span * (_WIDTH_PX - _LEFT_PX - 10)

    parts = []
    height = len(processes) * _LANE_PX + 40
    for start, end, label in nemesis:
        parts.append(f'<rect x="{x(start):.1f}" y="0" width="{max(1.0, x(end) - x(start)):.1f}"'
                     f' height="{height}" class="nemesis"><title>{html.escape(label)} '
                     f'[{start:.3f} .. {end:.3f}]</title></rect>')
    for p in processes:
        y = lane[p] * _LANE_PX + 20
        parts.append(f'<text x="4" y="{y + 15}" class="lane">p{p}</text>')
    for op in ops:
        cls = "other"
        if bad is not None and op.key == bad.key:
            cls = "prefix" if id(op) in prefix else "pending"
        if culprit is not None and op is culprit:
            cls = "culprit"
        if op.ret == math.inf:
            cls += " unknown"
        y = lane[op.process] * _LANE_PX + 22
        w = max(2.0, x(op.ret) - x(op.call))
        out = "unknown" if op.status != "ok" else repr(op.output)
        tip = html.escape(f"p{op.process} {op.f}({op.key!r}, {op.input!r}) -> {out}\n"
                          f"[{op.call:.4f} .. {'?' if op.ret == math.inf else f'{op.ret:.4f}'}]")
        label = html.escape(f"{op.f} {op.key}")
        parts.append(f'<g><rect x="{x(op.call):.1f}" y="{y}" width="{w:.1f}" height="18" '
                     f'class="{cls}"><title>{tip}</title></rect>'
                     f'<text x="{x(op.call) + 2:.1f}" y="{y + 13}" class="op">{label}</text></g>')
    summary = html.escape(result.summary() if result is not None else f"{len(ops)} operations")
    doc = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>history timeline</title>
<style>
body {{ font-family: sans-serif; margin: 16px; }}
pre {{ background: #f6f6f6; padding: 8px; }}
.nemesis {{ fill: #ffd6d6; opacity: 0.6; }}
.lane {{ font-size: 12px; fill: #333; }}
.op {{ font-size: 10px; fill: #000; pointer-events: none; }}
rect.other {{ fill: #d8d8d8; }}
rect.prefix {{ fill: #8fd18f; }}
rect.pending {{ fill: #f5c66b; }}
rect.culprit {{ fill: #e5484d; }}
rect.unknown {{ fill-opacity: 0.45; stroke: #666; stroke-dasharray: 3 2; }}
</style></head><body>
<h2>History timeline</h2>
<p>green: longest linearizable prefix of the failing key; red: the operation that cannot
be placed; amber: other operations of that key; grey: other keys; dashed: unknown outcome;
shaded: nemesis faults. Hover a bar for details.</p>
<pre>{summary}</pre>
<svg width="{_WIDTH_PX}" height="{height}" xmlns="http://www.w3.org/2000/svg">
{chr(10).join(parts)}
</svg></body></html>
"""
    target = Path(path)
    target.write_text(doc, encoding="utf-8")
    return target
