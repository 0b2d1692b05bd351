// FVH: start Swagger UI on the docs page. A separate file, not an inline script, so that a
// Content-Security-Policy without 'unsafe-inline' allows it. The spec URL comes from the
// page (data-spec-url), so the page works under any path prefix.
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.getAttribute("data-spec-url"),
    domNode: node,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    // Never contact validator.swagger.io: stations may be offline, and keys stay local.
    validatorUrl: null,
    persistAuthorization: false,
  });
})();
