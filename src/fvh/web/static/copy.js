/* A copy button beside a one-time secret (a new API key): it copies the text of the element
   its data-copy names and says so in its status line. The button is hidden until this runs,
   so without JavaScript nobody sees a button that does nothing. No inline script: the CSP
   allows only scripts from this origin; the words come from the page (data-done, data-failed). */
(function () {
  "use strict";

  // A plain-HTTP LAN is no secure context and has no clipboard API: copy a selection instead.
  function copyBySelection(text) {
    var buffer = document.createElement("textarea");
    buffer.value = text;
    buffer.setAttribute("readonly", "");
    buffer.className = "copy-buffer";
    document.body.appendChild(buffer);
    buffer.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    document.body.removeChild(buffer);
    return copied ? Promise.resolve() : Promise.reject(new Error("not copied"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return copyBySelection(text);
      });
    }
    return copyBySelection(text);
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-status"));
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      copy(source.textContent.trim()).then(
        function () {
          if (status) status.textContent = button.getAttribute("data-done");
        },
        function () {
          // Let the person copy it by hand: the whole key selected.
          var range = document.createRange();
          range.selectNodeContents(source);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          if (status) status.textContent = button.getAttribute("data-failed");
        }
      );
    });
  });
})();
