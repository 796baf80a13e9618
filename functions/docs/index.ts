import { Hono } from "hono";
import type { AppEnv } from "../lib/env.ts";
import { ApiError } from "../lib/errors.ts";

/*
 * The API browser. Every URL the page loads is on this server: the Swagger UI files come from
 * Services.docsAssets (a pinned npm package on the local runner), so the page works offline.
 * These routes are not API operations and stay out of the OpenAPI document.
 */

/** The page; its script is a separate same-origin file, so a strict CSP needs no inline exception. */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchyard API</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

/** Starts Swagger UI on our document; no validator badge, which would call an outside service. */
const INIT = `window.ui = SwaggerUIBundle({
  url: "/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
`;

function noAssets(): ApiError {
  return new ApiError("NOT_FOUND", "this server does not serve the API browser", {
    hint: "Read the OpenAPI document at /v1/openapi.json, or open /docs on a `switchyard up` server.",
  });
}

/** /docs: the Swagger UI page, its start script and its static files. */
export const docsApp = new Hono<AppEnv>()
  .get("/docs", (c) => {
    if (!c.get("services").docsAssets) throw noAssets();
    return c.html(PAGE);
  })
  .get("/docs/init.js", (c) => {
    if (!c.get("services").docsAssets) throw noAssets();
    return c.body(INIT, 200, { "Content-Type": "text/javascript; charset=utf-8" });
  })
  .get("/docs/assets/:file", async (c) => {
    const assets = c.get("services").docsAssets;
    if (!assets) throw noAssets();
    const file = await assets.read(c.req.param("file"));
    if (!file) throw new ApiError("NOT_FOUND", `no API browser asset '${c.req.param("file")}'`, { hint: "Open /docs; it loads the files it needs." });
    return c.body(file.body, 200, { "Content-Type": file.type });
  });
