// DAP dashboards in the browser. Loaded in the page's head (before the kernel's outputs stream
// in), it:
// - draws every chart (`.dap-plot[data-dap-figure]`) with the page's plotly.js as soon as the
//   chart's HTML arrives, and redraws it when its figure changes;
// - shows the cells as soon as a dashboard's HTML is there (not after Voilà's scripts load);
// - sends a click on a card button (`[data-dap-action]`) to the kernel through the dashboard's
//   bridge widget, and puts the kernel's redrawn header and grid in place;
// - turns a click on a chart mark into a click on the card's matching category button;
// - clicks prepared downloads once;
// - answers `window.dapRendered()`: every chart drawn and visible, every KPI filled, nothing
//   loading or waiting for the kernel.
(function () {
  "use strict";

  var seq = 0; // messages sent to the kernel
  var pending = {}; // board token -> highest seq sent and not yet answered
  var queued = {}; // board token -> messages waiting for the bridge widget to appear
  var applied = {}; // board token -> last kernel update applied

  function boardOf(el) {
    var host = el.closest ? el.closest("[data-dap-board]") : null;
    return host ? host.getAttribute("data-dap-board") : null;
  }

  function boardParts(token) {
    return document.querySelectorAll('[data-dap-board="' + token + '"]');
  }

  function setBusy(token, busy) {
    var parts = boardParts(token);
    for (var i = 0; i < parts.length; i++) { parts[i].classList.toggle("dap-busy", busy); }
  }

  // -- charts ---------------------------------------------------------------------------------

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
          buttons[i].click();
          return;
        }
      }
    });
  }

  // plotly.js is not in this page (a bare `voila --template=dap` has no static/plotly.min.js):
  // every chart box says so in one line instead of staying empty.
  var NO_PLOTLY = "Chart not drawn: plotly.js is not in this page (serve the dashboard with " +
    "`dap dashboard serve`).";
  var plotlyMissing = false;

  function markPlotlyMissing() {
    if (window.Plotly) { return; }
    plotlyMissing = true;
    scanSoon();
  }

  function drawPlots() {
    var plots = document.querySelectorAll(".dap-plot[data-dap-figure]");
    if (!window.Plotly) {
      if (!plotlyMissing) { return; }
      for (var m = 0; m < plots.length; m++) {
        var note = plots[m].querySelector(".dap-plot-note");
        if (note && note.textContent !== NO_PLOTLY) { note.textContent = NO_PLOTLY; }
        if (!plots[m].classList.contains("dap-plot-failed")) { plots[m].classList.add("dap-plot-failed"); }
      }
      return;
    }
    for (var i = 0; i < plots.length; i++) {
      var el = plots[i];
      var text = el.getAttribute("data-dap-figure");
      if (el.__dapDrawn === text || el.__dapDrawing === text) { continue; }
      var fig;
      try { fig = JSON.parse(text); } catch (e) { el.__dapDrawn = text; continue; }
      var notes = el.querySelectorAll(".dap-plot-note");
      for (var n = 0; n < notes.length; n++) { notes[n].parentNode.removeChild(notes[n]); }
      el.__dapDrawing = text;
      (function (el, text) {
        window.Plotly.react(el, fig.data || [], fig.layout || {}, fig.config || {}).then(
          function () { el.__dapDrawn = text; el.__dapDrawing = null; wireChart(el); scanSoon(); },
          function () { el.__dapDrawn = text; el.__dapDrawing = null; el.classList.add("dap-plot-failed"); }
        );
      })(el, text);
    }
  }

  // -- the bridge to the kernel ---------------------------------------------------------------

  function bridgeInput(token) {
    return document.querySelector(".dap-bridge-in-" + token + " input");
  }

  function send(token, message) {
    var input = bridgeInput(token);
    if (!input) { (queued[token] = queued[token] || []).push(message); return; }
    input.value = JSON.stringify(message);
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function flushQueued() {
    for (var token in queued) {
      if (!queued[token].length || !bridgeInput(token)) { continue; }
      var messages = queued[token];
      queued[token] = [];
      for (var i = 0; i < messages.length; i++) { send(token, messages[i]); }
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-dap-action]");
    if (!button) { return; }
    var token = boardOf(button);
    if (!token) { return; }
    var card = button.closest(".dap-card");
    seq += 1;
    pending[token] = seq;
    setBusy(token, true);
    if (card) { card.classList.add("dap-loading"); }
    send(token, {
      seq: seq,
      action: button.getAttribute("data-dap-action"),
      card: card ? Number(card.getAttribute("data-dap-card")) : null,
      arg: button.getAttribute("data-dap-arg") || ""
    });
  });

  function replacePart(token, part, html) {
    var el = document.querySelector('[data-dap-board="' + token + '"][data-dap-part="' + part + '"], ' +
      '[data-dap-board="' + token + '"] [data-dap-part="' + part + '"]');
    if (el && typeof html === "string" && el.innerHTML !== html) { el.innerHTML = html; }
  }

  function applyUpdates() {
    var outs = document.querySelectorAll("[class*='dap-bridge-out-']");
    for (var i = 0; i < outs.length; i++) {
      var match = /dap-bridge-out-([0-9a-f]+)/.exec(outs[i].className);
      if (!match) { continue; }
      var token = match[1];
      var update;
      try { update = JSON.parse(outs[i].textContent || "null"); } catch (e) { continue; }
      if (!update || !(update.seq > (applied[token] || 0))) { continue; }
      applied[token] = update.seq;
      if (!update.busy) {
        replacePart(token, "status", update.status);
        replacePart(token, "download", update.download);
        replacePart(token, "grid", update.grid);
      }
      var waiting = (pending[token] || 0) > (update.ack || 0);
      setBusy(token, update.busy || waiting);
      if (!update.busy && !waiting) {
        var loading = document.querySelectorAll('[data-dap-board="' + token + '"] .dap-loading');
        for (var l = 0; l < loading.length; l++) { loading[l].classList.remove("dap-loading"); }
      }
    }
  }

  // -- the page ---------------------------------------------------------------------------------

  function showCells() {
    if (!document.querySelector(".dap-static-output")) { return; }
    var loading = document.getElementById("loading");
    if (loading) { loading.parentNode.removeChild(loading); }
    var cells = document.getElementById("rendered_cells");
    if (cells && cells.style.display === "none") { cells.style.display = ""; }
  }

  var resizeTimer = null;
  function resizeSoon() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { window.dispatchEvent(new Event("resize")); }, 150);
  }

  function scan() {
    var body = document.body;
    if (!body) { return; }
    showCells();
    applyUpdates();
    flushQueued();
    drawPlots();
    var links = document.querySelectorAll("a.dap-download-link[data-dap-auto]");
    for (var j = 0; j < links.length; j++) {
      links[j].removeAttribute("data-dap-auto");
      links[j].click();
    }
    if (document.querySelector(".dap-board, .dap-dashboard") && !body.classList.contains("dap-has-dashboard")) {
      body.classList.add("dap-has-dashboard");
      resizeSoon();
    }
    var ready = window.dapRendered();
    if (ready !== body.classList.contains("dap-ready")) { body.classList.toggle("dap-ready", ready); }
  }

  function visible(el) {
    return !!(el && el.getClientRects().length);
  }

  // Every chart card has its current figure drawn and on screen, nothing is loading or waiting
  // for the kernel, every KPI has its number.
  window.dapRendered = function () {
    if (document.querySelector(".dap-loading, .dap-busy, .dap-refreshing")) { return false; }
    var cards = document.querySelectorAll(".dap-card");
    if (!cards.length) {
      var cells = document.querySelector("#rendered_cells");
      return !!cells && getComputedStyle(cells).display !== "none";
    }
    for (var i = 0; i < cards.length; i++) {
      var card = cards[i];
      if (card.querySelector(".dap-error")) { continue; }
      if (!visible(card)) { return false; }
      var plots = card.querySelectorAll(".dap-plot");
      for (var p = 0; p < plots.length; p++) {
        if (plots[p].classList.contains("dap-plot-failed")) { continue; }
        if (plots[p].__dapDrawn !== plots[p].getAttribute("data-dap-figure")) { return false; }
        if (!plots[p].querySelector(".main-svg")) { return false; }
      }
      if (card.classList.contains("dap-chart") && !plots.length) { return false; }
      var kpi = card.querySelector(".dap-kpi-value");
      if (kpi && kpi.textContent.trim() === "…") { return false; }
    }
    return true;
  };

  var scheduled = false;
  function scanSoon() {
    if (scheduled) { return; }
    scheduled = true;
    requestAnimationFrame(function () { scheduled = false; scan(); });
  }

  // New nodes and text (outputs streaming in, kernel updates) are handled at once; the ready
  // flag is also checked twice a second.
  new MutationObserver(scanSoon).observe(document.documentElement, {
    childList: true, subtree: true, characterData: true
  });
  function whenPlotly() {
    var script = document.getElementById("dap-plotly");
    if (window.Plotly) { scanSoon(); return; }
    if (script && !script.__dapWatched) {
      script.__dapWatched = true;
      script.addEventListener("load", scanSoon);
      script.addEventListener("error", markPlotlyMissing);
    }
    if (!script) { markPlotlyMissing(); }
  }
  // Async scripts delay the window's load event: by then plotly.js has run, or never will.
  if (document.readyState === "complete") { markPlotlyMissing(); }
  else { window.addEventListener("load", markPlotlyMissing); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      whenPlotly();
      var stamp = document.querySelector(".dap-page-time");
      if (stamp) { stamp.textContent = "Rendered " + new Date().toLocaleString(); }
      scan();
    });
  }
  whenPlotly();
  setInterval(scan, 500);
})();
