// Nirvana's own start-up of the vendored Swagger UI: a file, not an inline script, so that
// the page's CSP can allow scripts from 'self' only.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // Only this server: the "Try it out" requests are sent to it, with the Bearer token
  // entered under "Authorize".
  validatorUrl: null,
});
