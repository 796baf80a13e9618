import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, haveChromium, launchChromium, recordedPage } from "../helpers/browser.ts";
import { killUpProcess, startUpProcess, type UpProcess } from "../helpers/up-process.ts";

/*
 * The API browser in a real Chromium against a real `switchyard up`: it must render the
 * operations with every request on 127.0.0.1 (no CDN) and no console error. .ci/run installs
 * Debian's chromium; only a machine without it skips, and says so.
 */

const SCREENSHOT = fileURLToPath(new URL("../../test-results/docs-browser.png", import.meta.url));
if (!haveChromium) console.warn(`skipping the /docs browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set SWITCHYARD_CHROMIUM)`);

let dir = "";
let up: UpProcess | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!haveChromium) return;
  dir = mkdtempSync(join(tmpdir(), "switchyard-docs-"));
  up = startUpProcess(join(dir, "home"), ["--no-cron"]);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  if (up) {
    killUpProcess(up);
    await up.exit;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!haveChromium)("/docs in Chromium", () => {
  it("renders every operation from same-origin assets with no console error", async () => {
    const base = await up!.url;
    const { page, context, requests, offHost, errors: consoleErrors } = await recordedPage(browser!, { width: 1280, height: 2000 });
    const res = await page.goto(`${base}/docs`, { waitUntil: "networkidle" });
    expect(res?.status()).toBe(200);
    // Rendered from the OpenAPI document: a known operation's summary and every operation block.
    await page.getByText("Register a worker or manager session").first().waitFor({ timeout: 30_000 });
    const doc = (await (await fetch(`${base}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    // Swagger UI keeps only the operations near the viewport in the page; scroll through it and
    // collect every operation block that appears (its id names the tag and operationId).
    const rendered = new Set<string>();
    for (let top = 0; ; top += 1000) {
      await page.evaluate((y) => window.scrollTo(0, y), top);
      await page.waitForTimeout(150);
      for (const id of await page.locator(".opblock").evaluateAll((els) => els.map((e) => e.id))) rendered.add(id);
      if (top > (await page.evaluate(() => document.documentElement.scrollHeight))) break;
    }
    expect(rendered.size).toBe(operations);
    await page.evaluate(() => window.scrollTo(0, 0));
    expect(await page.locator(".info .title").textContent()).toContain("Switchyard API");

    mkdirSync(join(SCREENSHOT, ".."), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: false });

    expect(offHost).toEqual([]);
    expect(consoleErrors).toEqual([]);
    expect(requests).toEqual(
      expect.arrayContaining([`${base}/docs`, `${base}/docs/assets/swagger-ui-bundle.js`, `${base}/docs/assets/swagger-ui.css`, `${base}/v1/openapi.json`]),
    );
    await context.close();
  });
});
