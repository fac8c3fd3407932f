// Cluster metrics as uPlot charts, from /ui/clusters/{env}/metrics.json (the data of
// GET /api/v1/clusters/{env}/metrics). Redrawn every 10 s while the page shows the present.
"use strict";
(function () {
  var REFRESH_MS = 10000;
  var SERIES = {
    cpu: { unit: "%", lines: [["avg", function (p) { return p.cpu && p.cpu.avg; }], ["max", function (p) { return p.cpu && p.cpu.max; }]] },
    memory: { unit: "%", lines: [["avg", function (p) { return p.memory && p.memory.avg; }], ["max", function (p) { return p.memory && p.memory.max; }]] },
    latency: { unit: "ms", lines: [["p95", function (p) { return p.latencyP95Ms && p.latencyP95Ms.p95; }], ["avg", function (p) { return p.latencyP95Ms && p.latencyP95Ms.avg; }]] },
    errors: { unit: "%", lines: [["avg", function (p) { return p.errorRate && p.errorRate.avg * 100; }], ["max", function (p) { return p.errorRate && p.errorRate.max * 100; }]] },
  };
  var COLORS = ["#2563eb", "#dc2626"];
  var plots = new Map();

  function columns(points, key) {
    var xs = points.map(function (p) { return Date.parse(p.to) / 1000; });
    var cols = [xs];
    SERIES[key].lines.forEach(function (line) {
      cols.push(points.map(function (p) { var v = line[1](p); return v === null || v === undefined ? null : v; }));
    });
    return cols;
  }

  function draw(container, data) {
    // from the first bucket with samples: a fleet that started a minute ago fills the chart
    var first = data.points.findIndex(function (p) { return p.sampleCount > 0; });
    var anyData = first >= 0;
    if (anyData) data = { points: data.points.slice(first) };
    var empty = container.querySelector(".chart-empty");
    if (empty) empty.hidden = anyData;
    container.querySelectorAll(".plot").forEach(function (el) {
      var key = el.getAttribute("data-series");
      if (!SERIES[key]) return;
      var cols = columns(data.points, key);
      var width = Math.max(240, el.clientWidth || 300);
      var existing = plots.get(el);
      if (existing) {
        existing.setData(cols);
        return;
      }
      var opts = {
        width: width,
        height: 180,
        scales: { x: { time: true } },
        axes: [{}, { label: SERIES[key].unit, size: 50 }],
        series: [{}].concat(SERIES[key].lines.map(function (line, i) {
          return { label: line[0], stroke: COLORS[i], width: 1.5, spanGaps: true };
        })),
      };
      plots.set(el, new uPlot(opts, cols, el));
    });
  }

  function load(container) {
    fetch(container.getAttribute("data-src"), { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("metrics: " + r.status); return r.json(); })
      .then(function (data) { draw(container, data); })
      .catch(function () { /* the next refresh tries again */ });
  }

  function resize() {
    plots.forEach(function (plot, el) {
      plot.setSize({ width: Math.max(240, el.clientWidth || 300), height: 180 });
    });
  }

  function init() {
    var container = document.getElementById("charts");
    if (!container || typeof uPlot === "undefined") return;
    load(container);
    if (container.getAttribute("data-live") === "true") setInterval(function () { load(container); }, REFRESH_MS);
    var timer;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(resize, 150);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
