// Draws the plots page's panels with uPlot from the JSON the page carries, and refreshes them.
(function () {
  "use strict";
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"];
  var root = document.getElementById("plots");
  var dataEl = document.getElementById("plot-data");
  if (!root || !dataEl || typeof uPlot === "undefined") { return; }
  var charts = {};

  function draw(data) {
    root.querySelectorAll("figure[data-panel]").forEach(function (fig) {
      var panel = data[fig.dataset.panel];
      if (!panel || !panel.t.length) { return; }
      var names = panel.names || Object.keys(panel.lines);
      var aligned = [panel.t].concat(names.map(function (n) { return panel.lines[n]; }));
      var holder = fig.querySelector(".chart");
      if (charts[fig.dataset.panel]) { charts[fig.dataset.panel].destroy(); }
      var opts = {
        width: Math.max(320, holder.clientWidth || 640), height: 240,
        series: [{}].concat(names.map(function (n, i) {
          return { label: n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false };
        })),
        axes: [{}, { size: 50 }],
        scales: { x: { time: true } },
      };
      charts[fig.dataset.panel] = new uPlot(opts, aligned, holder);
      fig.classList.add("drawn");
    });
  }

  draw(JSON.parse(dataEl.textContent));
  var every = 1000 * (parseInt(root.dataset.refresh, 10) || 60);
  setInterval(function () {
    if (document.hidden) { return; }
    fetch(root.dataset.src, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { draw(data); } })
      .catch(function () {});
  }, every);
})();
