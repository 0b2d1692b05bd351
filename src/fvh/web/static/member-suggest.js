/* Suggestions for a member field: while a name is typed, the members the server's search
   finds (case and accents aside) fill the field's datalist. Without it the field still
   takes a name or a code; the server resolves both. */
(function () {
  "use strict";
  var DELAY_MS = 200;

  document.querySelectorAll("input[data-suggest-url]").forEach(function (input) {
    var list = input.list;
    var url = input.getAttribute("data-suggest-url");
    if (!list || !url || !window.fetch) return;
    var timer = null;
    var asked = "";

    function fill(found) {
      while (list.firstChild) list.removeChild(list.firstChild);
      found.forEach(function (member) {
        var option = document.createElement("option");
        option.value = member.value;
        list.appendChild(option);
      });
    }

    function ask() {
      var text = input.value.trim();
      if (text.length < 2 || text === asked || /\(\d{10}\)$/.test(text)) return;
      asked = text;
      fetch(url + "?q=" + encodeURIComponent(text), {
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      })
        .then(function (response) { return response.ok ? response.json() : { members: [] }; })
        .then(function (data) { if (input.value.trim() === text) fill(data.members || []); })
        .catch(function () { /* no suggestions; typing still works */ });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, DELAY_MS);
    });
  });
})();
