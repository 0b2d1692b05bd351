/* Forms that cost money: sent once, and deposit presets that fill in the amount.
   Every form works without this; the server's one-time form token is the real guard
   against a booking sent twice (fvh.core.form_tokens). No inline script: the CSP allows
   only scripts from this origin. */
(function () {
  "use strict";

  // After the first submit a form's buttons are disabled, so a double click or an impatient
  // second click does not send it again. They are disabled after the submit event: a
  // disabled button would not send its own name and value (e.g. the preview's "back").
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
    if (form.hasAttribute("data-sent")) {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent", "");
    window.setTimeout(function () {
      form.querySelectorAll("button, input[type=submit]").forEach(function (button) {
        if (button.type === "submit") button.disabled = true;
      });
    }, 0);
  });

  // Back to a page kept by the browser: its forms may be used again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      form.removeAttribute("data-sent");
      form.querySelectorAll("button, input[type=submit]").forEach(function (button) {
        button.disabled = false;
      });
    });
  });

  // A preset writes its amount into the amount field and makes the booking a deposit;
  // typing an amount clears the preset, so that what is shown is what gets booked.
  document.querySelectorAll("fieldset.presets[data-fills]").forEach(function (presets) {
    var form = presets.form || presets.closest("form");
    var amount = form && form.elements.namedItem(presets.getAttribute("data-fills"));
    if (!amount) return;
    presets.addEventListener("change", function (event) {
      if (!event.target.checked) return;
      amount.value = event.target.value;
      var deposit = form.querySelector('input[name="kind"][value="deposit"]');
      if (deposit) deposit.checked = true;
    });
    amount.addEventListener("input", function () {
      presets.querySelectorAll('input[type="radio"]').forEach(function (radio) {
        radio.checked = false;
      });
    });
  });
})();
