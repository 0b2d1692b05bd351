/* The member's charts: balance over time and consumption per week or month (Chart.js).
   Data comes from the member's own JSON endpoint named in data-source; no inline script. */
(function () {
  "use strict";
  var balanceCanvas = document.getElementById("balance-chart");
  var consumptionCanvas = document.getElementById("consumption-chart");
  if (!balanceCanvas || !consumptionCanvas || typeof window.Chart === "undefined") return;

  var locale = balanceCanvas.getAttribute("data-locale") || "de";
  var charts = [];

  function colors() {
    var styles = getComputedStyle(document.documentElement);
    return {
      accent: styles.getPropertyValue("--accent").trim() || "#b71c1c",
      text: styles.getPropertyValue("--muted").trim() || "#5f6b7a",
      grid: styles.getPropertyValue("--border").trim() || "#d8dde3"
    };
  }

  /* The page's colours (light or dark theme) on a chart's lines, bars, labels and grid. */
  function paint(chart) {
    var c = colors();
    chart.data.datasets.forEach(function (set) { set.borderColor = c.accent; set.backgroundColor = c.accent; });
    ["x", "y"].forEach(function (axis) {
      chart.options.scales[axis].ticks.color = c.text;
      chart.options.scales[axis].grid = { color: c.grid };
    });
    chart.update();
  }

  new MutationObserver(function () { charts.forEach(paint); })
    .observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
  if (window.matchMedia) {
    var scheme = window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme.addEventListener) scheme.addEventListener("change", function () { charts.forEach(paint); });
  }

  function moneyFormatter(currency, decimals) {
    var iso = /^[A-Z]{3}$/.test(currency);
    var format;
    try {
      format = new Intl.NumberFormat(locale, iso
        ? { style: "currency", currency: currency, minimumFractionDigits: decimals, maximumFractionDigits: decimals }
        : { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
    } catch (e) {
      format = new Intl.NumberFormat(locale);
    }
    return function (cents) {
      var value = format.format(cents / 100);
      return iso ? value : value + " " + currency;
    };
  }

  function drawBalance(data, money) {
    var points = data.balance.map(function (p) { return { x: p.t, y: p.cents }; });
    return new window.Chart(balanceCanvas, {
      type: "line",
      data: { datasets: [{ label: balanceCanvas.getAttribute("data-label"), data: points, stepped: true,
        pointRadius: 2 }] },
      options: {
        maintainAspectRatio: false, animation: false, parsing: false,
        plugins: { legend: { display: false },
          tooltip: { callbacks: {
            title: function (items) { return new Date(items[0].parsed.x).toLocaleString(locale); },
            label: function (item) { return money(item.parsed.y); } } } },
        scales: {
          x: { type: "linear", ticks: { maxTicksLimit: 6,
            callback: function (value) { return new Date(value).toLocaleDateString(locale); } } },
          y: { ticks: { callback: function (value) { return money(value); } } }
        }
      }
    });
  }

  function drawConsumption(data, money, period) {
    var rows = data[period];
    return new window.Chart(consumptionCanvas, {
      type: "bar",
      data: { labels: rows.map(function (r) { return r.label; }),
        datasets: [{ label: consumptionCanvas.getAttribute("data-label"),
          data: rows.map(function (r) { return r.cents; }) }] },
      options: {
        maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false },
          tooltip: { callbacks: { label: function (item) { return money(item.parsed.y); } } } },
        scales: { x: { ticks: {} },
          y: { beginAtZero: true, grace: "5%", ticks: { callback: function (value) { return money(value); } } } }
      }
    });
  }

  fetch(balanceCanvas.getAttribute("data-source"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
    .then(function (data) {
      var money = moneyFormatter(data.currency, data.decimals);
      var consumption = drawConsumption(data, money, "week");
      charts = [drawBalance(data, money), consumption];
      charts.forEach(paint);
      document.querySelectorAll(".chart-switch button[data-period]").forEach(function (button) {
        button.addEventListener("click", function () {
          var period = button.getAttribute("data-period");
          document.querySelectorAll(".chart-switch button[data-period]").forEach(function (other) {
            other.setAttribute("aria-pressed", other === button ? "true" : "false");
          });
          consumption.data.labels = data[period].map(function (r) { return r.label; });
          consumption.data.datasets[0].data = data[period].map(function (r) { return r.cents; });
          consumption.update();
        });
      });
    })
    .catch(function () { /* the page stays usable without charts */ });
})();
