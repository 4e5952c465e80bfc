// Small behaviours of the cloudscheduler pages; every page works without them (forms post normally).
(function () {
  "use strict";

  // Selects and checkboxes marked .autosubmit submit their form (group switcher, filters).
  document.addEventListener("change", function (ev) {
    if (ev.target.classList && ev.target.classList.contains("autosubmit") && ev.target.form) {
      ev.target.form.submit();
    }
  });

  // Limit sliders mirror the number field they belong to, both ways.
  document.querySelectorAll("input.slider[data-for]").forEach(function (slider) {
    var field = document.getElementById(slider.dataset.for);
    if (!field) { return; }
    slider.addEventListener("input", function () { field.value = slider.value; });
    field.addEventListener("input", function () {
      var n = parseInt(field.value, 10);
      if (!isNaN(n)) { slider.value = n; }
    });
  });

  // "Select all" in a table header ticks every row checkbox of that table.
  document.querySelectorAll("input.select-all").forEach(function (box) {
    box.addEventListener("change", function () {
      box.closest("table").querySelectorAll("tbody input[type=checkbox]").forEach(function (cb) {
        cb.checked = box.checked;
      });
    });
  });

  // Name filters hide non-matching rows at once; Enter still filters on the server.
  document.querySelectorAll("input.live-filter[data-target]").forEach(function (input) {
    var table = document.querySelector(input.dataset.target);
    if (!table) { return; }
    input.addEventListener("input", function () {
      var needle = input.value.toLowerCase();
      table.querySelectorAll("tbody tr[data-name]").forEach(function (row) {
        row.hidden = row.dataset.name.indexOf(needle) === -1;
      });
    });
  });

  // The status tables refresh themselves while the tab is visible.
  var body = document.getElementById("status-body");
  if (body && body.dataset.src) {
    var every = 1000 * (parseInt(body.dataset.refresh, 10) || 30);
    setInterval(function () {
      if (document.hidden) { return; }
      fetch(body.dataset.src, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { body.innerHTML = html; } })
        .catch(function () { /* keep the last tables; the next tick retries */ });
    }, every);
  }
})();
