// The API reference page (/api/v1/docs): Swagger UI drawing the app's own OpenAPI document.
// A file rather than an inline script, for the Content Security Policy (script-src 'self').
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    // Never send the document to an outside validator.
    validatorUrl: null,
  });
});
