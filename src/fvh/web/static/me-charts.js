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
      if (chart.options.scales[axis].title) chart.options.scales[axis].title.color = c.text;
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

  var HOUR = 3600 * 1000;

  function localMidnight(t) { var d = new Date(t); d.setHours(0, 0, 0, 0); return d.getTime(); }
  function addDays(t, n) { var d = new Date(t); d.setDate(d.getDate() + n); return d.getTime(); }

  /* The x axis of the balance: whole local days around the points, so one entry (or a single
     day) gets a day with hours instead of a zero-width axis; ticks on local midnights (or
     hours), which stay right across a change to or from summer time. */
  function timeAxis(points) {
    var min = localMidnight(points[0].x);
    var max = addDays(localMidnight(points[points.length - 1].x), 1);
    var days = Math.round((max - min) / (24 * HOUR));
    var ticks = [];
    if (days <= 1) {
      for (var h = 0; h <= 24; h += 4) ticks.push(min + h * HOUR);
    } else {
      var step = Math.max(1, Math.ceil(days / 6));
      for (var t = min; t < max; t = addDays(t, step)) ticks.push(t);
      max = addDays(ticks[ticks.length - 1], step);  // the axis ends on a tick
      ticks.push(max);
    }
    var label = days <= 1
      ? function (value) { return new Date(value).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" }); }
      : function (value) { return new Date(value).toLocaleDateString(locale, { day: "numeric", month: "short" }); };
    return {
      type: "linear", min: min, max: max,
      afterBuildTicks: function (axis) { axis.ticks = ticks.map(function (value) { return { value: value }; }); },
      ticks: { autoSkip: true, maxRotation: 0, callback: label },
      title: { display: days <= 1, text: new Date(min).toLocaleDateString(locale, { day: "numeric", month: "long", year: "numeric" }) }
    };
  }

  /* Instead of an empty chart (whose axis would start at 1.1.1970): the chart's own message. */
  function showEmpty(canvas) {
    var box = canvas.parentNode;
    box.hidden = true;
    var message = document.getElementById(canvas.getAttribute("data-empty"));
    if (message) message.hidden = false;
  }

  function drawBalance(data, money) {
    var points = data.balance.map(function (p) { return { x: p.t, y: p.cents }; });
    if (!points.length) { showEmpty(balanceCanvas); return null; }
    return new window.Chart(balanceCanvas, {
      type: "line",
      data: { datasets: [{ label: balanceCanvas.getAttribute("data-label"), data: points, stepped: true,
        pointRadius: points.length > 60 ? 1 : 3 }] },
      options: {
        maintainAspectRatio: false, animation: false, parsing: false,
        plugins: { legend: { display: false },
          tooltip: { callbacks: {
            title: function (items) {
              return new Date(items[0].parsed.x).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
            },
            label: function (item) { return money(item.parsed.y); } } } },
        scales: {
          x: timeAxis(points),
          y: { grace: "10%", ticks: { callback: function (value) { return money(value); } } }
        }
      }
    });
  }

  /* "2026-W47" as its Monday ("16. Nov."), "2026-11" as its month ("Nov. 2026"). */
  function periodLabel(label) {
    var week = /^(\d{4})-W(\d{2})$/.exec(label);
    if (week) {
      var jan4 = new Date(Number(week[1]), 0, 4);
      var monday = addDays(jan4.getTime(), -((jan4.getDay() + 6) % 7) + 7 * (Number(week[2]) - 1));
      return new Date(monday).toLocaleDateString(locale, { day: "numeric", month: "short" });
    }
    var month = /^(\d{4})-(\d{2})$/.exec(label);
    if (month) return new Date(Number(month[1]), Number(month[2]) - 1, 1).toLocaleDateString(locale, { month: "short", year: "numeric" });
    return label;
  }

  function drawConsumption(data, money, period) {
    var rows = data[period];
    var used = data.week.concat(data.month).some(function (r) { return r.cents !== 0; });
    if (!used) {
      showEmpty(consumptionCanvas);
      document.querySelectorAll(".chart-switch").forEach(function (node) { node.hidden = true; });
      return null;
    }
    return new window.Chart(consumptionCanvas, {
      type: "bar",
      data: { labels: rows.map(function (r) { return periodLabel(r.label); }),
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
      charts = [drawBalance(data, money), consumption].filter(Boolean);
      charts.forEach(paint);
      if (!consumption) return;
      document.querySelectorAll(".chart-switch button[data-period]").forEach(function (button) {
        button.addEventListener("click", function () {
          var period = button.getAttribute("data-period");
          document.querySelectorAll(".chart-switch button[data-period]").forEach(function (other) {
            other.setAttribute("aria-pressed", other === button ? "true" : "false");
          });
          consumption.data.labels = data[period].map(function (r) { return periodLabel(r.label); });
          consumption.data.datasets[0].data = data[period].map(function (r) { return r.cents; });
          consumption.update();
        });
      });
    })
    .catch(function () { /* the page stays usable without charts */ });
})();
