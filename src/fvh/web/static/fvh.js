/* Small progressive enhancements; every page works without them. */
(function () {
  "use strict";
  var root = document.documentElement;

  function effectiveTheme() {
    var chosen = root.getAttribute("data-theme");
    if (chosen === "light" || chosen === "dark") return chosen;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  var toggle = document.getElementById("theme-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var next = effectiveTheme() === "dark" ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem("fvh-theme", next); } catch (e) { /* not saved */ }
    });
  }

  // The folding menu: fvh.css shows it inline from 1024px; keep it open there, so that
  // assistive technology sees what is shown, and closed again on narrow screens.
  var menu = document.querySelector("details.menu");
  if (menu && window.CSS && CSS.supports("selector(::details-content)")) {
    var wide = window.matchMedia("(min-width: 1024px)");
    var syncMenu = function () { menu.open = wide.matches; };
    syncMenu();
    wide.addEventListener("change", syncMenu);
  }

  document.querySelectorAll("select.autosubmit").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  document.querySelectorAll("input.select-all").forEach(function (box) {
    box.addEventListener("change", function () {
      var name = box.getAttribute("data-target");
      box.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (item) {
        item.checked = box.checked;
      });
    });
  });
})();
