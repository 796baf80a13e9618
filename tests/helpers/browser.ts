import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** Debian's Chromium, which .ci/run installs (override with SWITCHYARD_CHROMIUM). */
export const CHROMIUM = process.env.SWITCHYARD_CHROMIUM ?? "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);

/**
 * Launches headless Chromium with a fresh profile and its own background traffic (updates, sync,
 * QUIC probes) turned off, so every request seen comes from the page.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    headless: true,
  });
}

/** What a recorded page asked for and complained about. */
export interface PageRecord {
  page: Page;
  context: BrowserContext;
  /** Every URL requested. */
  requests: string[];
  /** Requests to any host but 127.0.0.1: refused as well as recorded. */
  offHost: string[];
  /** Console errors, uncaught exceptions and failed requests. */
  errors: string[];
}

/**
 * A new context and page that records every request (refusing any off 127.0.0.1, so a regression
 * to a CDN fails instead of reaching the network) and every console error.
 */
export async function recordedPage(browser: Browser, viewport = { width: 1366, height: 850 }): Promise<PageRecord> {
  const context = await browser.newContext({ viewport });
  const requests: string[] = [];
  const offHost: string[] = [];
  const errors: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    requests.push(url);
    if (new URL(url).hostname === "127.0.0.1") return route.continue();
    offHost.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  page.on("requestfailed", (r) => {
    // A stream the page itself aborts (sign-out, page close) is not a failure.
    if (r.failure()?.errorText === "net::ERR_ABORTED" && r.url().endsWith("/v1/dashboard/stream")) return;
    errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ""}`);
  });
  return { page, context, requests, offHost, errors };
}
