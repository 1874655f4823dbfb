"""A page to walk a model's state space by hand, from the initial state.

The explorer (``protocols.explore.search``) answers "does every reachable state keep the
properties?"; a learner also wants to *see* the states: what each node holds, which
messages are in flight, and where each move leads. ``write_browser(adapter, "x.html")``
explores the model breadth-first (the explorer's own ``System`` and moves, and its
fingerprint, so two paths to one state meet in one node of the graph, as in TLC's state
graph, Lamport, "Specifying Systems" ch. 14) up to ``limit`` states, and writes one
self-contained HTML page (no network: the graph is embedded as JSON) where

* the current state shows each node (up or down, incarnation, its ``status()`` and every
  field of its core), the write under way, the messages in flight, and which properties
  hold in it;
* each enabled move is a button that leads to the state it makes (a move beyond the
  explored part says so);
* the trail of moves taken is a breadcrumb, with Back and a reset to the initial state.

Given a counterexample's ``path`` (``Explorer(...).run().counterexamples[0].path``), the
page opens at the path's last state, the trail filled in and the broken property marked:
the explorer's shortest counterexample, one state at a time. Every state along the path
and every successor of those is always explored, whatever ``limit`` says.

Unlike the explorer, the page also explores past a state that breaks a property (the
property stays marked broken there): a learner may want to look on. States beyond the
model's bounds (messages in flight, depth, its ``within`` rule) are not expanded, as in
the explorer. Breadth-first stops expanding once ``limit`` states are reached (the last
expansion may add a few more). Each property is checked once per state, right after
the state is first reached, in the explorer's order (the simulator's invariants remember
what they saw along a path).
"""

from __future__ import annotations

import html
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols.explore.canon import canon
from protocols.explore.model import Always, ExploreAdapter, Property
from protocols.explore.search import Explorer, check_always
from protocols.explore.system import CoreFailure, Move, System, XNode

__all__ = ["StateGraph", "explore_graph", "page_json", "write_browser"]

FIELD_CHARS = 600  # a core field's text is cut beyond this many characters
NOT_EXPLORED = "not explored (limit)"


# --------------------------------------------------------------------------- the graph


@dataclass(slots=True)
class StateGraph:
    """The explored part of the state space: ``states[i]`` is state ``i``'s JSON view
    (``states[0]`` the initial state); ``views`` and ``messages`` are the distinct node
    views and message texts the states point into (most states share most of them)."""

    model: str
    summary: str
    bounds: str
    limit: int
    properties: list[dict[str, str]]
    states: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    path: list[int] = field(default_factory=list)  # state ids along ``path``, from 0
    path_moves: list[int] = field(default_factory=list)  # move index taken at each step
    broken: list[str] = field(default_factory=list)  # properties the path breaks
    failure: str = ""  # the path's last move made a core raise: what it said
    expanded: int = 0  # states whose moves were all taken

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "summary": self.summary, "bounds": self.bounds,
                "limit": self.limit, "properties": self.properties, "views": self.views,
                "messages": self.messages, "states": self.states, "path": self.path,
                "pathMoves": self.path_moves, "broken": self.broken,
                "failure": self.failure, "expanded": self.expanded}


class _Builder:
    """Builds a ``StateGraph``: states by fingerprint, each expanded at most once."""

    def __init__(self, adapter: ExploreAdapter, limit: int) -> None:
        self.adapter = adapter
        self.limit = limit
        self.explorer = Explorer(adapter)
        self.properties: list[Property] = self.explorer.properties
        self.graph = StateGraph(
            adapter.name, adapter.summary, adapter.bounds.describe(), limit,
            [{"name": p.name, "kind": p.kind} for p in self.properties])
        self.ids: dict[bytes, int] = {}
        self.pending: dict[int, System] = {}  # reached, not yet expanded: its system
        self.moves: dict[int, list[Move]] = {}  # each state's moves, as the page lists them
        # the model's own bound (a state it says False of is not expanded), if it has one
        self.within: Callable[[System], bool] | None = getattr(adapter, "within", None)
        self._view_ids: dict[str, int] = {}
        self._message_ids: dict[str, int] = {}

    # ------------------------------------------------------------ states
    def reach(self, system: System) -> int:
        """The id of ``system``'s state; a new state is described (and its properties
        checked, once) and kept to expand."""
        key = self.explorer.key(system)
        known = self.ids.get(key)
        if known is not None:
            return known
        sid = self.ids[key] = len(self.graph.states)
        self.moves[sid] = system.moves()
        self.graph.states.append(self.describe(sid, system))
        self.pending[sid] = system
        return sid

    def expand(self, sid: int) -> list[int]:
        """Take every move of state ``sid`` (once); return the new states it led to."""
        system = self.pending.pop(sid, None)
        state = self.graph.states[sid]
        if system is None or state["stop"]:
            return []
        self.graph.expanded += 1
        before = len(self.graph.states)
        for entry, move in zip(state["moves"], self.moves[sid], strict=True):
            child = system.clone()
            try:
                child.apply(move)
            except CoreFailure as e:
                entry["error"] = str(e)
                continue
            entry["to"] = self.reach(child)
        return list(range(before, len(self.graph.states)))

    def describe(self, sid: int, system: System) -> dict[str, Any]:
        """State ``sid`` as the page shows it (its properties are checked here)."""
        bounds = self.adapter.bounds
        stop = ""
        if len(system.network) > bounds.in_flight:
            stop = f"more than {bounds.in_flight} messages in flight (the model's bound)"
        elif system.depth >= bounds.depth:
            stop = f"{bounds.depth} moves deep (the model's bound)"
        elif self.within is not None and not self.within(system):
            stop = "outside the model's own bound (its within rule)"
        return {"id": sid, "depth": system.depth, "stop": stop,
                "nodes": [self._intern_view(_node_view(system.nodes[n], self.adapter))
                          for n in system.ids],
                "network": [self._intern_message(p.describe()) for p in system.network],
                "props": [_verdict(p, system) for p in self.properties],
                "moves": [{"label": str(m), "kind": m.kind, "node": m.node, "to": None}
                          for m in self.moves[sid]]}

    def _intern_view(self, view: dict[str, Any]) -> int:
        text = json.dumps(view, sort_keys=True)
        if text not in self._view_ids:
            self._view_ids[text] = len(self.graph.views)
            self.graph.views.append(view)
        return self._view_ids[text]

    def _intern_message(self, text: str) -> int:
        if text not in self._message_ids:
            self._message_ids[text] = len(self.graph.messages)
            self.graph.messages.append(text)
        return self._message_ids[text]

    # ------------------------------------------------------------ the search
    def breadth_first(self) -> None:
        """Expand states in the order they were reached until ``limit`` states exist."""
        queue = deque([self.reach(System(self.adapter))])
        while queue and len(self.graph.states) < self.limit:
            queue.extend(self.expand(queue.popleft()))

    def follow(self, path: list[Move]) -> None:
        """Walk ``path`` from the initial state, expanding every state along it."""
        graph = self.graph
        sid = 0
        graph.path = [0]
        for step, move in enumerate(path, 1):
            self.expand(sid)
            index = _find(self.moves[sid], move, step)
            graph.path_moves.append(index)
            taken = graph.states[sid]["moves"][index]
            if taken.get("error"):
                graph.failure = taken["error"]
                graph.broken = ["no core raises"]
                return
            if taken["to"] is None:
                raise ValueError(f"step {step}: {move} leaves a state beyond the model's "
                                 f"bounds ({graph.states[sid]['stop']})")
            sid = taken["to"]
            graph.path.append(sid)
        self.expand(sid)
        graph.broken = self._broken()

    def _broken(self) -> list[str]:
        """What the path breaks: an always-property false at its end, or (a maximal
        path) an eventually-property false in every state of it."""
        states = [self.graph.states[i] for i in self.graph.path]
        last = states[-1]
        out = [p["name"] for p, v in zip(self.graph.properties, last["props"], strict=True)
               if p["kind"] == "always" and not v["holds"]]
        if not last["moves"]:
            for i, p in enumerate(self.graph.properties):
                if p["kind"] == "eventually" and not any(s["props"][i]["holds"]
                                                         for s in states):
                    out.append(p["name"])
        return out

    def finish(self) -> StateGraph:
        """Moves out of states never expanded say why."""
        for state in self.graph.states:
            if state["stop"] or state["id"] in self.pending:
                note = "beyond the model's bounds" if state["stop"] else NOT_EXPLORED
                for move in state["moves"]:
                    move["note"] = note
        self.pending.clear()
        self.moves.clear()
        return self.graph


def _find(moves: list[Move], move: Move, step: int) -> int:
    """The index of ``move`` among a state's moves (matched as ``System.find`` does)."""
    for i, m in enumerate(moves):
        if (m.kind, m.node, m.key, m.cut) == (move.kind, move.node, move.key, move.cut):
            return i
    raise ValueError(f"step {step}: {move} is not possible here")


def explore_graph(adapter: ExploreAdapter, *, path: list[Move] | None = None,
                  limit: int = 3000) -> StateGraph:
    """The state graph ``write_browser`` draws: breadth-first up to ``limit`` states,
    plus every state along ``path`` and all their successors."""
    builder = _Builder(adapter, limit)
    builder.breadth_first()
    if path is not None:
        builder.follow(path)
    return builder.finish()


# --------------------------------------------------------------------------- one state


def _verdict(p: Property, system: System) -> dict[str, Any]:
    """Whether ``p`` holds in ``system`` (an always-property: if not, why)."""
    if isinstance(p, Always):
        why = check_always(p, system)
        return {"holds": why is None, "why": why or ""}
    try:
        return {"holds": bool(p.check(system)), "why": ""}
    except AssertionError as e:
        return {"holds": False, "why": str(e) or type(e).__name__}


def _node_view(node: XNode, adapter: ExploreAdapter) -> dict[str, Any]:
    """One node as the page shows it: up or down, its status, its core's fields."""
    disk = sum(len(f.durable) for f in node.fs.files.values())
    view: dict[str, Any] = {"id": node.node_id, "up": node.up,
                            "incarnation": node.incarnation, "disk": disk}
    if not node.up or node.core is None:
        return view
    st = node.core.status()
    view.update(role=st.role, epoch=st.epoch, leader=st.leader_id,
                details={k: str(v) for k, v in sorted(st.details.items())},
                fields=_fields(canon(node.core, adapter.ignore)))
    writing = node.pump.writing if node.pump is not None else None
    view["writing"] = _clip(readable(canon(writing.records, adapter.ignore))) \
        if writing is not None else ""
    return view


def _fields(encoded: Any) -> list[list[str]]:
    """A core's canonical form ``(Class, ((field, value), ...))`` as [field, text] rows."""
    if isinstance(encoded, tuple) and len(encoded) == 2 and _is_fields(encoded[1]):
        return [[name, _clip(readable(value))] for name, value in encoded[1]]
    return [["value", _clip(readable(encoded))]]


def _is_fields(value: Any) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(f, tuple) and len(f) == 2 and isinstance(f[0], str) for f in value)


def readable(value: Any) -> str:
    """A canonical encoding (``protocols.explore.canon``) written back as a learner reads
    it: ``Ballot(round=1, leader_id='n1')``, ``{'n1', 'n2'}``, ``{key: value}``."""
    if not isinstance(value, tuple):
        return repr(value)
    if len(value) == 2 and value[0] in ("set", "map") and isinstance(value[1], tuple):
        if value[0] == "set":
            return "{" + ", ".join(map(readable, value[1])) + "}" if value[1] else "{}"
        return "{" + ", ".join(f"{readable(k)}: {readable(v)}" for k, v in value[1]) + "}"
    if len(value) == 2 and _is_class_name(value[0]):
        name, body = value
        if isinstance(body, tuple) and _is_fields(body):
            return f"{name}(" + ", ".join(f"{k}={readable(v)}" for k, v in body) + ")"
        if isinstance(body, bytes):  # a protobuf message: its serialized bytes
            return f"{name}(<{len(body)} bytes>)"
        if isinstance(body, str) and body.isidentifier():  # an enum member
            return f"{name}.{body}"
    return "(" + ", ".join(map(readable, value)) + ("," if len(value) == 1 else "") + ")"


def _is_class_name(value: Any) -> bool:
    return isinstance(value, str) and value[:1].isupper() and value.isidentifier()


def _clip(text: str) -> str:
    return text if len(text) <= FIELD_CHARS else text[:FIELD_CHARS - 3] + "..."


# --------------------------------------------------------------------------- the page


def page_json(graph: StateGraph) -> str:
    """The graph as JSON that is safe inside ``<script type="application/json">``: no
    ``<``, ``>`` or ``&`` appears in it (each is written as a ``\\u`` escape, which
    ``JSON.parse`` reads back), so ``</script>`` in a message cannot end the element."""
    text = json.dumps(graph.to_json(), separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def write_browser(adapter: ExploreAdapter, path_out: str | Path, *,
                  path: list[Move] | None = None, limit: int = 3000) -> Path:
    """Explore ``adapter``'s model (``explore_graph``) and write the page to
    ``path_out``; with ``path`` (a counterexample's moves), the page opens at its end."""
    graph = explore_graph(adapter, path=path, limit=limit)
    title = f"State space of {graph.model}"
    doc = _PAGE.format(
        title=html.escape(title), summary=html.escape(graph.summary or graph.model),
        bounds=html.escape(graph.bounds),
        counts=html.escape(f"{len(graph.states)} states shown, {graph.expanded} of them expanded "
                           f"(limit {graph.limit})"),
        data=page_json(graph), script=_SCRIPT)
    target = Path(path_out)
    target.write_text(doc, encoding="utf-8")
    return target


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #222; }}
h2 {{ margin: 0 0 6px 0; }}
h3 {{ margin: 14px 0 4px 0; font-size: 15px; }}
p {{ margin: 4px 0; }}
.muted {{ color: #666; font-size: 12px; }}
.controls {{ margin: 8px 0; font-size: 13px; }}
.controls button {{ font-size: 12px; }}
#trail {{ font-size: 12px; margin: 6px 0; line-height: 1.9; }}
#trail .crumb {{ background: #eef3fa; border: 1px solid #b8d4ee; border-radius: 3px;
  padding: 1px 5px; cursor: pointer; }}
#trail .crumb.here {{ background: #b8d4ee; font-weight: 600; }}
#trail .step {{ color: #555; }}
.nodes {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.node {{ border: 1px solid #999; border-radius: 4px; padding: 6px 8px; min-width: 260px;
  max-width: 460px; font-size: 12px; background: #fafafa; }}
.node.down {{ background: #e4e4e4; color: #666; }}
.node h4 {{ margin: 0 0 4px 0; font-size: 14px; }}
.node table {{ border-collapse: collapse; }}
.node td {{ vertical-align: top; padding: 1px 4px; font-family: ui-monospace, monospace;
  font-size: 11px; word-break: break-word; }}
.node td.k {{ color: #555; white-space: nowrap; }}
.writing {{ color: #8a5a00; }}
ul {{ margin: 2px 0; padding-left: 20px; font-size: 12px; }}
#network li {{ font-family: ui-monospace, monospace; font-size: 11px; }}
.prop.holds::before {{ content: "\\2713  "; color: #2a7d2a; }}
.prop.fails::before {{ content: "\\2717  "; color: #c00; }}
.prop.always.fails {{ color: #900; }}
.prop.no::before {{ content: "\\00b7  "; color: #888; }}
.prop.broken {{ background: #ffd6d6; border: 1px solid #e5484d; font-weight: 600; }}
#moves div {{ margin: 3px 0; }}
#moves button {{ text-align: left; font-size: 12px; font-family: ui-monospace, monospace;
  max-width: 80%; }}
.changed {{ background: #fff3c4; }}
#moves button.taken {{ outline: 2px solid #e5484d; }}
#moves .note {{ color: #888; font-size: 11px; margin-left: 6px; }}
#stop, #failure {{ color: #900; font-size: 13px; }}
</style></head><body>
<h2>{title}</h2>
<p>{summary}</p>
<p class="muted">bounds: {bounds}<br>{counts}</p>
<p class="muted">Click a move to take it; the trail above the state is the path from the
initial state (click a step to go back to it). What the last move changed is marked
<span class="changed">like this</span>.</p>
<div class="controls"><button type="button" id="back">Back</button>
<button type="button" id="reset">Initial state</button>
<button type="button" id="to-path" hidden>Counterexample's end</button></div>
<div id="trail"></div>
<h3 id="heading"></h3>
<p id="failure"></p>
<div class="nodes" id="nodes"></div>
<h3>Messages in flight</h3><ul id="network"></ul>
<h3>Properties in this state</h3><ul id="props"></ul>
<h3>Moves</h3><p id="stop"></p><div id="moves"></div>
<script type="application/json" id="graph">{data}</script>
<script>
{script}</script>
</body></html>
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var G = JSON.parse(document.getElementById("graph").textContent);
  // trail: the steps taken from the initial state, each {from, move, to}
  var trail = [];
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function current() { return trail.length ? trail[trail.length - 1].to : 0; }
  // the counterexample's steps that lead to a state (a move that made a core raise does not)
  var pathSteps = G.failure ? G.pathMoves.length - 1 : G.pathMoves.length;
  function onPath() {  // the trail is the counterexample's path, whole
    if (!G.path.length || trail.length !== pathSteps) return false;
    for (var i = 0; i < trail.length; i++)
      if (trail[i].from !== G.path[i] || trail[i].move !== G.pathMoves[i]) return false;
    return true;
  }

  // a node's rows: [key, label, text]; its status first, then its core's fields
  function rowsOf(v) {
    var rows = [["incarnation", "incarnation", String(v.incarnation)],
                ["disk", "disk", v.disk + " bytes durable"]];
    if (!v.up) return rows;
    rows.push(["epoch", "epoch", String(v.epoch)]);
    if (v.leader) rows.push(["leader", "leader", v.leader]);
    Object.keys(v.details).forEach(function (k) { rows.push(["d:" + k, k, v.details[k]]); });
    return rows.concat(v.fields.map(function (f) { return ["f:" + f[0], f[0], f[1]]; }));
  }
  // what the last move changed is marked: a node's rows, a new message
  function showNode(v, before) {
    var box = el("div", v.up ? "node" : "node down");
    box.dataset.node = v.id;
    var head = v.id + (v.up ? " \u2014 " + (v.role || "up") : " \u2014 down");
    box.appendChild(el("h4", "", head));
    var table = el("table"), old = {};
    if (before) rowsOf(before).forEach(function (r) { old[r[0]] = r[2]; });
    rowsOf(v).forEach(function (r) {
      var tr = el("tr", before && r[0] in old && old[r[0]] !== r[2] ? "changed" : "");
      tr.appendChild(el("td", "k", r[1]));
      tr.appendChild(el("td", "", r[2]));
      table.appendChild(tr);
    });
    box.appendChild(table);
    if (before && before.up !== v.up) box.classList.add("changed");
    if (v.writing) box.appendChild(el("p", "writing", "writing to disk: " + v.writing));
    return box;
  }

  function showProps(s, atEnd) {
    var ul = $("props");
    G.properties.forEach(function (p, i) {
      var v = s.props[i], verdict = v.holds ? " holds" : p.kind === "always" ? " fails" : " no";
      var li = el("li", "prop " + p.kind + verdict);
      li.dataset.name = p.name;
      var word = p.kind === "always" ? (v.holds ? "holds" : "BROKEN")
        : (v.holds ? "true here" : "false here");
      li.textContent = p.kind + " " + p.name + ": " + word + (v.why ? " \u2014 " + v.why : "");
      if (atEnd && G.broken.indexOf(p.name) >= 0) li.classList.add("broken");
      ul.appendChild(li);
    });
  }

  function showMoves(s, atEnd) {
    var box = $("moves");
    $("stop").textContent = s.stop ? "Not expanded: " + s.stop + "." : "";
    if (!s.moves.length) box.appendChild(el("p", "muted", "No move is possible here."));
    s.moves.forEach(function (m, i) {
      var b = el("button", "move " + m.kind, m.label);
      b.type = "button";
      b.dataset.index = i;
      b.dataset.kind = m.kind;
      if (m.to !== null) {
        b.dataset.to = m.to;
        b.title = "leads to state " + m.to;
        b.addEventListener("click", function () { go(s.id, i); });
      } else {
        b.disabled = true;
      }
      var wrap = el("div");
      wrap.appendChild(b);
      var note = m.error ? "the core raised: " + m.error : (m.note || "");
      if (m.to !== null) note = "\u2192 state " + m.to;
      wrap.appendChild(el("span", "note", note));
      if (atEnd && G.failure && i === G.pathMoves[G.pathMoves.length - 1])
        b.classList.add("taken");
      box.appendChild(wrap);
    });
  }

  function showTrail() {
    var t = $("trail");
    t.textContent = "";
    var first = el("span", "crumb" + (trail.length ? "" : " here"), "initial state 0");
    first.addEventListener("click", function () { cut(0); });
    t.appendChild(first);
    trail.forEach(function (step, i) {
      t.appendChild(el("span", "step", " \u2192 " + G.states[step.from].moves[step.move].label
                       + " \u2192 "));
      var c = el("span", "crumb" + (i === trail.length - 1 ? " here" : ""), "state " + step.to);
      c.addEventListener("click", function () { cut(i + 1); });
      t.appendChild(c);
    });
  }

  function show() {
    var s = G.states[current()], atEnd = onPath();
    ["nodes", "network", "props", "moves"].forEach(function (id) { $(id).textContent = ""; });
    $("heading").textContent = "State " + s.id + " (" + s.depth + " moves from the initial"
      + " state" + (atEnd ? "; the end of the counterexample" : "") + ")";
    $("failure").textContent = atEnd && G.failure ? "The path's last move made a core raise: "
      + G.failure : "";
    var prev = trail.length ? G.states[trail[trail.length - 1].from] : null;
    s.nodes.forEach(function (v, i) {
      $("nodes").appendChild(showNode(G.views[v], prev ? G.views[prev.nodes[i]] : null));
    });
    if (!s.network.length) $("network").appendChild(el("li", "muted", "none"));
    s.network.forEach(function (m) {
      var fresh = prev && prev.network.indexOf(m) < 0;
      $("network").appendChild(el("li", "msg" + (fresh ? " changed" : ""), G.messages[m]
                                  + (fresh ? " (new)" : "")));
    });
    showProps(s, atEnd);
    showMoves(s, atEnd);
    showTrail();
    $("back").disabled = !trail.length;
    var b = document.body.dataset;
    b.state = s.id;
    b.trail = [0].concat(trail.map(function (x) { return x.to; })).join(",");
    b.atEnd = atEnd ? "1" : "0";
  }

  function go(from, move) {
    trail.push({from: from, move: move, to: G.states[from].moves[move].to});
    show();
  }
  function cut(n) { trail = trail.slice(0, n); show(); }
  function toPath() {
    trail = G.pathMoves.slice(0, pathSteps).map(function (m, i) {
      return {from: G.path[i], move: m, to: G.path[i + 1]};
    });
    show();
  }

  $("back").addEventListener("click", function () { cut(Math.max(0, trail.length - 1)); });
  $("reset").addEventListener("click", function () { cut(0); });
  $("to-path").addEventListener("click", toPath);
  window.browser = {go: go, cut: cut, toPath: toPath, trail: function () { return trail; }};
  if (G.path.length) { $("to-path").hidden = false; toPath(); } else { show(); }
  document.body.dataset.ready = "1";
})();
"""
