/* Applies the saved theme before the page paints (loaded in <head>, no inline script). */
(function () {
  try {
    var theme = localStorage.getItem("fvh-theme");
    if (theme === "light" || theme === "dark") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (e) { /* storage may be blocked: follow the system setting */ }
})();
