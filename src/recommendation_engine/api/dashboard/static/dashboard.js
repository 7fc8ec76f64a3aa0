// The dashboard's own script: the CSRF header on htmx requests, and charts drawn from
// JSON blocks the server renders into the page (no inline script: the page's Content
// Security Policy allows none).
(function () {
  "use strict";

  var PALETTE = ["#0b57d0", "#b3261e", "#0d652d", "#7d4e00", "#6d28d9", "#0e7490", "#be185d"];

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // After htmx replaces a result, move the reader to it: the result is announced, and
  // the keyboard goes on from there.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.hasAttribute("data-focus-after-swap")) {
      target.focus();
    }
  });

  function drawChart(canvas) {
    if (canvas.dataset.drawn || typeof Chart === "undefined") {
      return;
    }
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    var datasets = spec.datasets.map(function (set, index) {
      var colour = PALETTE[index % PALETTE.length];
      return Object.assign(
        {
          borderColor: colour,
          backgroundColor: spec.type === "bar" || set.type === "bar" ? colour : colour + "33",
          borderWidth: spec.type === "bar" ? 0 : 2,
          pointRadius: spec.points === false ? 0 : 2,
          tension: 0.2,
        },
        set
      );
    });
    var scales = {
      x: { ticks: { maxTicksLimit: spec.xTicks || 12, autoSkip: true, maxRotation: 0 } },
      y: { beginAtZero: true, title: { display: !!spec.yTitle, text: spec.yTitle || "" } },
    };
    if (spec.y2Title) {
      scales.y2 = {
        beginAtZero: true,
        position: "right",
        grid: { drawOnChartArea: false },
        title: { display: true, text: spec.y2Title },
      };
    }
    canvas.dataset.drawn = "yes";
    new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: datasets.length > 1 } },
        scales: scales,
      },
    });
  }

  function drawCharts(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(drawChart);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      drawCharts(document);
    });
  } else {
    drawCharts(document);
  }
  document.addEventListener("htmx:load", function (event) {
    drawCharts(event.target);
  });
})();
