import { OpenAPIHono } from "@hono/zod-openapi";
import { Hono } from "hono";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { dashboardOverview, overviewRoute } from "./overview.ts";
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from "./page.ts";
import { dashboardStream, streamRoute, streamSnapshot } from "./stream.ts";

/** The dashboard's data: the overview and the change stream (owner only). */
export const dashboardApiApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(overviewRoute, async (c) => c.json(await dashboardOverview(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(streamRoute, async (c) => {
    const ctx = c.get("ctx");
    // A client that asks for a stream gets one; anything else gets one snapshot and the answer ends.
    if ((c.req.header("accept") ?? "").includes("text/event-stream")) return dashboardStream(c, ctx, c.req.valid("query")) as never;
    return c.json(await streamSnapshot(ctx), 200);
  });

/** Only this server's own files, scripts and connections; no inline code, no framing. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";
const NO_STORE = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" };

/**
 * The page at /dashboard and its two static files. They hold no data (everything comes from the
 * API with the owner's token), so they are public; they stay out of the OpenAPI document.
 */
export const dashboardPageApp = new Hono<AppEnv>()
  .get("/", (c) => c.redirect("/dashboard", 302))
  .get("/dashboard", (c) => c.html(DASHBOARD_HTML, 200, { ...NO_STORE, "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer" }))
  .get("/dashboard/app.js", (c) => c.body(DASHBOARD_JS, 200, { ...NO_STORE, "Content-Type": "text/javascript; charset=utf-8" }))
  .get("/dashboard/app.css", (c) => c.body(DASHBOARD_CSS, 200, { ...NO_STORE, "Content-Type": "text/css; charset=utf-8" }));
