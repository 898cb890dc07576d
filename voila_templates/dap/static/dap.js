// DAP dashboards in the browser: a click on a chart mark clicks the matching category button
// of its card (drill-down / cross-filter run in the kernel, as the viewer), prepared exports
// download themselves, and `window.dapRendered()` tells when every chart is drawn.
(function () {
  "use strict";

  function clickedValue(point) {
    if (!point) { return undefined; }
    var type = point.data && point.data.type;
    if (type === "pie" || type === "funnelarea" || type === "treemap" || type === "sunburst") {
      return point.label;
    }
    if (point.data && point.data.orientation === "h") { return point.y; }
    return point.x;
  }

  function wireChart(gd) {
    if (gd.__dapWired || typeof gd.on !== "function") { return; }
    gd.__dapWired = true;
    gd.on("plotly_click", function (event) {
      var value = clickedValue(event && event.points && event.points[0]);
      var card = gd.closest(".dap-card");
      if (value === undefined || !card) { return; }
      var wanted = String(value);
      var buttons = card.querySelectorAll(".dap-pick");
      for (var i = 0; i < buttons.length; i++) {
        if (buttons[i].textContent.trim() === wanted) {
          card.classList.add("dap-loading");
          buttons[i].click();
          return;
        }
      }
    });
  }

  var resizeTimer = null;
  function resizeSoon() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { window.dispatchEvent(new Event("resize")); }, 150);
  }

  function scan() {
    var plots = document.querySelectorAll(".dap-card .js-plotly-plot");
    for (var i = 0; i < plots.length; i++) {
      if (!plots[i].__dapWired) { wireChart(plots[i]); resizeSoon(); }
    }
    var links = document.querySelectorAll("a.dap-download-link[data-dap-auto]");
    for (var j = 0; j < links.length; j++) {
      links[j].removeAttribute("data-dap-auto");
      links[j].click();
    }
    var body = document.body;
    if (document.querySelector(".dap-dashboard") && !body.classList.contains("dap-has-dashboard")) {
      body.classList.add("dap-has-dashboard");
    }
    var ready = window.dapRendered();
    if (ready !== body.classList.contains("dap-ready")) { body.classList.toggle("dap-ready", ready); }
  }

  // Every chart card has a drawn plot, nothing is loading, every KPI has its number.
  window.dapRendered = function () {
    if (document.querySelector(".dap-loading, .dap-busy, .dap-refreshing")) { return false; }
    var cards = document.querySelectorAll(".dap-card");
    if (!cards.length) {
      return !!document.querySelector("#rendered_cells") &&
        getComputedStyle(document.querySelector("#rendered_cells")).display !== "none";
    }
    for (var i = 0; i < cards.length; i++) {
      var card = cards[i];
      if (card.querySelector(".dap-error")) { continue; }
      if (card.classList.contains("dap-chart") && !card.querySelector(".js-plotly-plot .main-svg")) { return false; }
      var kpi = card.querySelector(".dap-kpi-value");
      if (kpi && kpi.textContent.trim() === "…") { return false; }
    }
    return true;
  };

  var stamp = document.querySelector(".dap-page-time");
  if (stamp) { stamp.textContent = "Rendered " + new Date().toLocaleString(); }
  // New nodes (plots, links) are handled at once; the ready flag is also checked twice a second
  // (class changes are not observed: this script changes classes itself).
  var pending = false;
  new MutationObserver(function () {
    if (pending) { return; }
    pending = true;
    requestAnimationFrame(function () { pending = false; scan(); });
  }).observe(document.body, { childList: true, subtree: true });
  setInterval(scan, 500);
  scan();
})();
