"""The graph page of a transaction check: each anomaly's cycle drawn as a small graph.

One self-contained HTML file (no network): the anomalies as JSON and a plain script that
draws, for each cycle, the transactions (with their micro-ops) around a circle and the
dependency edges between them as arrows labelled ``ww``, ``wr``, ``rw``, ``process`` or
``realtime`` (hover an arrow for why the edge holds). Anomalies without a cycle (G1a,
lost-update, ...) are listed under it. When the script has drawn everything it sets
``<body data-ready="1">``: the browser test waits for it.
"""

from __future__ import annotations

import html
import json
from typing import Any

from protocols.check.elle import TxnResult

__all__ = ["render_txn_page"]


def page_data(result: TxnResult) -> dict[str, Any]:
    """What the page draws: the verdict, and per anomaly its txns and cycle edges."""
    anomalies = []
    for a in result.anomalies:
        nodes = [{"id": t, "process": str(result.txns[t].process),
                  "status": result.txns[t].status,
                  "ops": [_op(op) for op in result.txns[t].ops]} for t in a.txns]
        anomalies.append({"name": a.name, "forbidden": a.name in result.forbidden,
                          "explanation": a.explanation, "nodes": nodes,
                          "edges": [{"from": x, "to": y, "kind": k, "why": w}
                                    for x, y, k, w in a.edges]})
    return {"level": result.level, "model": result.model, "valid": result.valid,
            "txns": len(result.txns), "edges": result.edges, "anomalies": anomalies}


def _op(op: tuple[str, Any, Any]) -> str:
    f, k, v = op
    if isinstance(v, tuple):
        items = [str(x) for x in v]
        if len(items) > 6:
            items = [*items[:2], "…", *items[-3:]]
        v = "[" + " ".join(items) + "]"
    return f"{f} {k} {'nil' if v is None else v}"


def render_txn_page(result: TxnResult, title: str = "transaction check") -> str:
    data = json.dumps(page_data(result)).replace("</", "<\\/")
    return _PAGE.replace("@TITLE@", html.escape(title)).replace("@DATA@", data)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>@TITLE@: isolation anomalies</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-bottom: .2em; }
.verdict.ok { color: #11772c; } .verdict.bad { color: #b3261e; }
.anomaly { border-top: 1px solid #ddd; padding-top: .6em; margin-top: 1em; }
.tag { font-size: .8em; padding: 1px 6px; border-radius: 8px; margin-left: .5em; }
.tag.forbidden { background: #fde2e1; color: #b3261e; }
.tag.allowed { background: #e6f4ea; color: #11772c; }
.explanation { max-width: 70em; }
svg.cycle { border: 1px solid #eee; background: #fcfcfc; }
.txn rect { fill: #fff; stroke: #556; rx: 6; }
.txn text { font: 12px ui-monospace, monospace; }
.edge path { fill: none; stroke-width: 1.6; }
.edge text { font: bold 12px system-ui, sans-serif; }
.edge:hover path { stroke-width: 3; }
.ww path { stroke: #1f5fbf; } .ww text { fill: #1f5fbf; }
.wr path { stroke: #11772c; } .wr text { fill: #11772c; }
.rw path { stroke: #b3261e; stroke-dasharray: 5 3; } .rw text { fill: #b3261e; }
.process path { stroke: #7a4cb0; } .process text { fill: #7a4cb0; }
.realtime path { stroke: #a86b00; } .realtime text { fill: #a86b00; }
</style></head>
<body>
<h1>@TITLE@</h1>
<p id="verdict" class="verdict"></p>
<p>Edges: <b>ww</b> a txn overwrote another's write; <b>wr</b> it read another's write;
<b>rw</b> it read a version another then overwrote (dashed); <b>process</b> one
client's order; <b>realtime</b> one finished before the other began. Hover an arrow
for why it holds.</p>
<div id="cycles"></div>
<h2 id="others-title"></h2>
<ul id="others"></ul>
<script id="data" type="application/json">@DATA@</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const NS = "http://www.w3.org/2000/svg";
const W = 230, LINE = 15;

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function html(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function nodeHeight(n) { return LINE * (Math.min(n.ops.length, 6) + 1) + 10; }

function drawCycle(a, index) {
  const n = a.nodes.length;
  const tallest = Math.max(...a.nodes.map(nodeHeight));
  const r = n === 2 ? 190 : Math.max(170, 95 * n / Math.PI);
  const size = { w: 2 * r + W + 40, h: 2 * r + tallest + 40 };
  const svg = el("svg", { class: "cycle", width: size.w, height: size.h,
                          "data-cycle": index, "data-txns": a.nodes.map(x => x.id).join(",") });
  const marker = el("marker", { id: "arrow" + index, viewBox: "0 0 10 10", refX: 10, refY: 5,
                                markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" });
  marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#444" }));
  const defs = el("defs", {}); defs.appendChild(marker); svg.appendChild(defs);
  const at = {};
  a.nodes.forEach((node, i) => {
    const angle = -Math.PI / 2 + 2 * Math.PI * i / n;
    at[node.id] = { x: size.w / 2 + r * Math.cos(angle), y: size.h / 2 + r * Math.sin(angle),
                    h: nodeHeight(node) };
  });
  for (const e of a.edges) svg.appendChild(drawEdge(e, at, index));
  for (const node of a.nodes) svg.appendChild(drawNode(node, at[node.id]));
  return svg;
}

function border(p, toward) {
  // where the segment from p's centre toward another point leaves p's box
  const dx = toward.x - p.x, dy = toward.y - p.y;
  const s = Math.min(Math.abs((W / 2 + 4) / (dx || 1e-9)), Math.abs((p.h / 2 + 4) / (dy || 1e-9)));
  return { x: p.x + dx * s, y: p.y + dy * s };
}

function drawEdge(e, at, index) {
  const a = at[e.from], b = at[e.to];
  const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2;
  const len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
  const bend = 0.18 * len;  // curve to the left of the direction: two ways do not overlap
  const c = { x: mx + bend * (b.y - a.y) / len, y: my - bend * (b.x - a.x) / len };
  const p = border(a, c), q = border(b, c);
  const g = el("g", { class: "edge " + e.kind, "data-kind": e.kind,
                      "data-from": e.from, "data-to": e.to });
  g.appendChild(el("title", {}, e.why));
  g.appendChild(el("path", { d: `M${p.x},${p.y} Q${c.x},${c.y} ${q.x},${q.y}`,
                             "marker-end": `url(#arrow${index})` }));
  g.appendChild(el("text", { x: c.x, y: c.y, "text-anchor": "middle",
                             class: "edge-label" }, e.kind));
  return g;
}

function drawNode(node, p) {
  const g = el("g", { class: "txn", "data-txn": "T" + node.id });
  g.appendChild(el("rect", { x: p.x - W / 2, y: p.y - p.h / 2, width: W, height: p.h }));
  const head = `T${node.id}  process ${node.process}, ${node.status}`;
  g.appendChild(el("text", { x: p.x - W / 2 + 8, y: p.y - p.h / 2 + LINE + 2,
                             "font-weight": "bold" }, head));
  const ops = node.ops.length > 6 ? [...node.ops.slice(0, 5), "…"] : node.ops;
  ops.forEach((op, i) => g.appendChild(el("text", {
    x: p.x - W / 2 + 8, y: p.y - p.h / 2 + LINE * (i + 2) + 2, class: "op" }, op)));
  return g;
}

function main() {
  const v = document.getElementById("verdict");
  v.textContent = `${DATA.model}: ${DATA.txns} txns, ${DATA.edges} dependency edges; `
    + `${DATA.level}: ${DATA.valid ? "valid" : "NOT valid"}`;
  v.classList.add(DATA.valid ? "ok" : "bad");
  const cycles = document.getElementById("cycles"), others = document.getElementById("others");
  let drawn = 0, listed = 0;
  DATA.anomalies.forEach((a) => {
    const tag = html("span", "tag " + (a.forbidden ? "forbidden" : "allowed"),
                     a.forbidden ? "forbidden at " + DATA.level : "allowed at " + DATA.level);
    if (a.edges.length) {
      const s = html("section", "anomaly");
      s.dataset.name = a.name;
      const h = html("h2", "", a.name); h.appendChild(tag); s.appendChild(h);
      s.appendChild(html("p", "explanation", a.explanation));
      s.appendChild(drawCycle(a, drawn++));
      cycles.appendChild(s);
    } else {
      const li = html("li", "anomaly-item");
      li.dataset.name = a.name;
      li.appendChild(html("b", "", a.name + ": ")); li.append(a.explanation); li.appendChild(tag);
      others.appendChild(li); listed++;
    }
  });
  if (!DATA.anomalies.length) cycles.appendChild(html("p", "", "No anomaly found."));
  if (listed) document.getElementById("others-title").textContent = "Anomalies without a cycle";
  document.body.dataset.cycles = drawn;
  document.body.dataset.ready = "1";
}
main();
</script>
</body></html>
"""
