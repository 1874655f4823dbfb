// The space-time page's script (protocols.check.spacetime.render_spacetime inlines it
// into every page it writes, so the page stays one self-contained file). It keeps
// (zoom k, pan px) and recomputes the x of everything that carries data-s (and
// data-e) from the times, so strokes, arrowheads and text stay crisp.
(function () {
  "use strict";
  var svg = document.getElementById("st");
  var L = +svg.dataset.left, R = +svg.dataset.right, span = +svg.dataset.span;
  var maxZoom = +svg.dataset.maxzoom, top = +svg.dataset.lanesTop;
  var H = +svg.getAttribute("height"), PW = +svg.dataset.plotw;
  var STUB = 16, k = 1, pan = 0, pending = false;
  var axis = svg.querySelector("g.axis"), viewText = document.getElementById("view-text");
  var items = [];
  svg.querySelectorAll("[data-s]").forEach(function (el) {
    var kind = el.tagName.toLowerCase();
    if (kind === "path") { kind = el.classList.contains("lost") ? "lost" : "orphan"; }
    items.push({el: el, kind: kind, s: +el.dataset.s, e: +el.dataset.e,
                minw: +(el.dataset.minw || 0), y0: +(el.dataset.y0 || 0),
                y1: +(el.dataset.y1 || 0), spill: el.dataset.spill === "1", out: false,
                w: (el.textContent || "").length * 5.6 + 4});
  });
  var laneLines = svg.querySelectorAll(".lane-line");
  var clipRect = document.getElementById("plot-clip-rect");

  function f1(v) { return v.toFixed(1); }
  function clampY(d) { return Math.max(-STUB, Math.min(STUB, d)); }
  function fmtZoom(z) { return String(Math.round(z * 1000) / 1000); }
  function niceStep(raw) {
    if (!(raw > 0) || !isFinite(raw)) { return 1; }
    var base = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = [1, 2, 5, 10];
    for (var i = 0; i < m.length; i++) {
      if (m[i] * base >= raw * (1 - 1e-9)) { return m[i] * base; }
    }
    return 10 * base;
  }
  function pxPerSecond() { return PW / span * k; }
  function clampPan() { pan = Math.min(0, Math.max(PW - PW * k, pan)); }
  function viewStart() { return -pan / pxPerSecond(); }
  function viewEnd() { return (PW - pan) / pxPerSecond(); }

  function drawAxis() {
    var t0 = viewStart(), t1 = viewEnd(), f = pxPerSecond();
    var step = niceStep((t1 - t0) / Math.max(2, PW / 110));
    var decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    var out = [];
    for (var i = Math.ceil(t0 / step - 1e-9); i <= Math.floor(t1 / step + 1e-9); i++) {
      var t = i * step, x = f1(L + t * f + pan);
      out.push('<line x1="' + x + '" x2="' + x + '" y1="' + (top - 4) + '" y2="' + H + '"/>' +
               '<text x="' + x + '" y="14" text-anchor="middle">' + t.toFixed(decimals) +
               ' s</text>');
    }
    axis.innerHTML = out.join("");
  }

  function layout() {
    pending = false;
    var f = pxPerSecond();
    var lo = L - 2 * STUB, hi = L + PW + 2 * STUB;
    for (var i = 0; i < items.length; i++) {
      var it = items[i], el = it.el;
      var x0 = L + it.s * f + pan, x1 = L + it.e * f + pan;
      // outside the view: hide it once, then leave it alone (deep zooms stay fast)
      var out = Math.max(x0, x1) < lo || Math.min(x0, x1) > hi;
      if (out !== it.out) {
        it.out = out;
        el.style.display = out ? "none" : "";
      }
      if (out) { continue; }
      if (it.kind === "line") {
        el.setAttribute("x1", f1(x0)); el.setAttribute("x2", f1(x1));
      } else if (it.kind === "rect") {
        el.setAttribute("x", f1(x0)); el.setAttribute("width", f1(Math.max(it.minw, x1 - x0)));
      } else if (it.kind === "text") {
        var a = Math.max(x0, L);
        el.setAttribute("x", f1(a + 2));
        el.style.display = (it.spill ? x1 >= L : x1 - a >= it.w) ? "" : "none";
      } else if (it.kind === "lost") {
        var xe = x0 + STUB, ye = it.y0 + clampY(it.y1 - it.y0);
        el.setAttribute("d", "M" + f1(x0) + " " + f1(it.y0) + "L" + f1(xe) + " " + f1(ye) +
          "M" + f1(xe - 3.5) + " " + f1(ye - 3.5) + "L" + f1(xe + 3.5) + " " + f1(ye + 3.5) +
          "M" + f1(xe - 3.5) + " " + f1(ye + 3.5) + "L" + f1(xe + 3.5) + " " + f1(ye - 3.5));
      } else {
        var ys = it.y1 + clampY(it.y0 - it.y1);
        el.setAttribute("d", "M" + f1(x1 - STUB) + " " + f1(ys) + "L" + f1(x1) + " " + f1(it.y1));
      }
    }
    drawAxis();
    svg.dataset.zoom = fmtZoom(k);
    svg.dataset.view = viewStart().toFixed(6) + "," + viewEnd().toFixed(6);
    viewText.textContent = "showing " + viewStart().toFixed(6) + " s to " +
      viewEnd().toFixed(6) + " s (zoom " + fmtZoom(k) + "x)";
  }
  function schedule() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { if (pending) { layout(); } });
  }
  function flush() { if (pending) { layout(); } }
  function remember() {
    try {
      var c = (viewStart() + viewEnd()) / 2;
      history.replaceState(null, "", k === 1 ? location.pathname + location.search :
        "#zoom=" + fmtZoom(k) + "&t=" + c.toFixed(6));
    } catch (err) { /* some viewers forbid it; the view still works */ }
  }
  function zoomAbout(px, factor) {
    var t = (px - L - pan) / pxPerSecond();
    k = Math.min(maxZoom, Math.max(1, k * factor));
    pan = px - L - t * pxPerSecond();
    clampPan(); schedule();
  }
  function setView(zoom, centre) {
    k = Math.min(maxZoom, Math.max(1, zoom));
    pan = PW / 2 - centre * pxPerSecond();
    clampPan(); schedule();
  }
  function panBy(dx) { pan += dx; clampPan(); schedule(); }
  function reset() { k = 1; pan = 0; schedule(); }
  function fit() {
    var avail = Math.max(600, document.documentElement.clientWidth - 32);
    var centre = (viewStart() + viewEnd()) / 2;
    PW = avail - L - R;
    svg.setAttribute("width", String(avail));
    clipRect.setAttribute("width", String(PW));
    laneLines.forEach(function (ln) { ln.setAttribute("x2", String(L + PW)); });
    setView(k, centre);
  }

  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var px = ev.clientX - svg.getBoundingClientRect().left;
    zoomAbout(Math.max(L, Math.min(L + PW, px)), Math.exp(-ev.deltaY * 0.002));
    remember();
  }, {passive: false});
  var drag = null;
  svg.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) { return; }
    drag = {x: ev.clientX, pan: pan};
    svg.classList.add("dragging");
    if (svg.setPointerCapture && ev.pointerId !== undefined) {
      try { svg.setPointerCapture(ev.pointerId); } catch (err) { /* synthetic pointer */ }
    }
  });
  svg.addEventListener("pointermove", function (ev) {
    if (drag) { pan = drag.pan; panBy(ev.clientX - drag.x); }
  });
  function endDrag() { if (drag) { drag = null; svg.classList.remove("dragging"); remember(); } }
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);
  document.getElementById("zoom-in").addEventListener("click", function () {
    zoomAbout(L + PW / 2, 2); remember(); });
  document.getElementById("zoom-out").addEventListener("click", function () {
    zoomAbout(L + PW / 2, 0.5); remember(); });
  document.getElementById("reset").addEventListener("click", function () {
    reset(); remember(); });
  window.addEventListener("resize", function () { fit(); });

  window.spacetime = {zoomAbout: zoomAbout, setView: setView, panBy: panBy, reset: reset,
                      flush: flush};
  fit();
  var q = new URLSearchParams(location.hash.replace(/^#/, ""));
  var z = parseFloat(q.get("zoom") || "1"), c = parseFloat(q.get("t") || String(span / 2));
  if (isFinite(z) && isFinite(c)) { setView(z, c); }
  layout();
  document.body.dataset.ready = "1";
})();
