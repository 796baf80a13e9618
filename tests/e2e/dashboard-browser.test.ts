import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM, haveChromium, launchChromium, recordedPage, type PageRecord } from "../helpers/browser.ts";
import { codexMeta } from "../helpers/transcripts.ts";
import { killUpProcess, startUpProcess, type UpProcess } from "../helpers/up-process.ts";

/*
 * The dashboard in a real Chromium against a real `switchyard up`: everything the page shows is
 * created through the HTTP API, the page is signed in with the owner token, and the owner's
 * approval is made by clicking in the page. .ci/run installs Debian's chromium.
 */

const RESULTS = fileURLToPath(new URL("../../test-results/", import.meta.url));
if (!haveChromium) console.warn(`skipping the dashboard browser test: no Chromium at ${CHROMIUM} (apt-get install chromium, or set SWITCHYARD_CHROMIUM)`);

let dir = "";
let up: UpProcess | undefined;
let browser: Browser | undefined;
let base = "";
let owner = "";
let codexHome = "";

beforeAll(async () => {
  if (!haveChromium) return;
  dir = mkdtempSync(join(tmpdir(), "switchyard-dash-"));
  codexHome = join(dir, "codex-home");
  mkdirSync(join(codexHome, "sessions"), { recursive: true });
  up = startUpProcess(join(dir, "home"), ["--no-cron"], { CODEX_HOME: codexHome });
  base = await up.url;
  owner = readFileSync(join(dir, "home", "owner.token"), "utf8").trim();
  browser = await launchChromium();
  mkdirSync(RESULTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  if (up) {
    killUpProcess(up);
    await up.exit;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One HTTP call to the server, as a client of the API would make it. */
async function api(method: string, path: string, body?: unknown, token: string | null = owner) {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json().catch(() => null)) as any };
}

async function must(method: string, path: string, body?: unknown, token: string | null = owner) {
  const r = await api(method, path, body, token);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

let seq = 0;
/** A worker with a Codex rollout under the server's CODEX_HOME, a manager, a task binding them. */
async function boundTask() {
  seq++;
  const rollout = join(codexHome, "sessions", "2026", "11", "21", `rollout-dash-${seq}.jsonl`);
  mkdirSync(join(rollout, ".."), { recursive: true });
  writeFileSync(rollout, codexMeta());
  const worker = await must("POST", "/v1/sessions", { name: `dash-worker-${seq}`, role: "worker", codex_session: rollout });
  const manager = await must("POST", "/v1/sessions", { name: `dash-manager-${seq}`, role: "manager" });
  const task = await must("POST", "/v1/tasks", { name: `dash-task-${seq}`, goal: "show it on the dashboard" });
  await must("POST", "/v1/bindings", { task: task.task.name, worker: worker.session.name, manager: manager.session.name });
  return { task: task.task.name as string, worker, manager, rollout };
}

/** Opens the dashboard and signs in through its form (with the owner token unless told otherwise). */
async function signedIn(token = owner, onPage?: (rec: PageRecord) => void): Promise<PageRecord> {
  const rec = await recordedPage(browser!);
  onPage?.(rec);
  const res = await rec.page.goto(`${base}/dashboard`);
  expect(res?.status()).toBe(200);
  await rec.page.locator("#token").fill(token);
  await rec.page.getByRole("button", { name: "Sign in" }).click();
  await rec.page.locator("#live.on").waitFor({ timeout: 10_000 });
  return rec;
}

describe.skipIf(!haveChromium)("/dashboard in Chromium", () => {
  it("loads with no console error and nothing off 127.0.0.1, shows an API-created task, and updates within 2 s when a cycle lands", async () => {
    const { task, rollout } = await boundTask();
    const rec = await signedIn();
    const { page } = rec;
    const row = page.locator(`tr[data-task="${task}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toContain("none");

    appendFileSync(rollout, `${JSON.stringify({ timestamp: new Date().toISOString(), type: "event_msg", payload: { type: "task_started" } })}\n`);
    const cycle = await must("POST", `/v1/tasks/${task}/cycle`, {});
    const landed = Date.now();
    await page.waitForFunction(
      ([name, id]) => document.querySelector(`tr[data-task="${name}"]`)?.textContent?.includes(`#${id} busy`) ?? false,
      [task, cycle.cycle_id] as const,
      { timeout: 2000 },
    );
    expect(Date.now() - landed).toBeLessThan(2000);
    // The activity feed got the cycle from the stream, and the timeline shows it on a click.
    await page.locator("#activity li", { hasText: `cycle ok cycle_id=${cycle.cycle_id}` }).waitFor({ timeout: 2000 });
    await row.click();
    await page.locator("#timeline li", { hasText: `cycle ${cycle.cycle_id} ok` }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(RESULTS, "dashboard.png"), fullPage: false });

    expect(rec.offHost).toEqual([]);
    expect(rec.errors).toEqual([]);
    // The token travels in a header only: never in a URL the page requested.
    expect(rec.requests.filter((u) => u.includes(owner))).toEqual([]);
    expect(rec.requests).toEqual(
      expect.arrayContaining([`${base}/dashboard`, `${base}/dashboard/app.js`, `${base}/dashboard/app.css`, `${base}/v1/dashboard/stream`]),
    );
    await rec.context.close();
  });

  it("says how many more gates are open than the patrol panel lists", async () => {
    for (let i = 0; i < 51; i++) await must("POST", "/v1/gates", { type: "human", title: `panel gate ${i}` });
    const rec = await signedIn();
    const more = rec.page.locator('#gates li[data-more="gates"]');
    await more.waitFor({ timeout: 10_000 });
    expect(await more.textContent()).toBe("and 1 more open (switchyard gate list)");
    expect(await rec.page.locator("#gates li").count()).toBe(51);
    expect(await rec.page.locator('#convoys li[data-more="convoys"]').count()).toBe(0);
    expect(rec.errors).toEqual([]);
    await rec.context.close();
  });

  it("lets the owner approve a draft with an edit and send it; the requester's inbox gets exactly that text", async () => {
    const requester = await must("POST", "/v1/sessions", { name: "dash-requester", role: "worker" });
    const advisor = await must("POST", "/v1/sessions", { name: "dash-advisor", role: "manager" });
    const sent = await must("POST", "/v1/messages", { to: "dash-advisor", body: "Should I split the parser?", msg_type: "request" }, requester.token);
    const ingested = await must("POST", `/v1/broker/messages/${sent.message_id}/ingest`, {});
    await must("POST", "/v1/orchestrator/watch", { once: true });
    expect(advisor.session.name).toBe("dash-advisor");

    const rec = await signedIn();
    const { page } = rec;
    const card = page.locator(`[data-advice-card="${ingested.advice_id}"]`);
    await card.waitFor({ timeout: 10_000 });
    const edited = "Split the parser by grammar rule; keep the tokenizer whole.";
    await card.locator("textarea").fill(edited);
    await card.locator('button[data-action="approve"]').click();
    await page.locator("#receipt.ok", { hasText: `approve ${ingested.advice_id}` }).waitFor({ timeout: 5000 });
    await card.locator('button[data-action="send"]').waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(RESULTS, "dashboard-approval.png"), fullPage: false });
    await card.locator('button[data-action="send"]').click();
    await page.locator("#receipt.ok", { hasText: `send ${ingested.advice_id}` }).waitFor({ timeout: 5000 });
    await card.waitFor({ state: "detached", timeout: 5000 });

    const inbox = await must("GET", "/v1/sessions/dash-requester/inbox", undefined, requester.token);
    const bodies = inbox.items.map((i: any) => i.payload.body);
    expect(bodies).toEqual([edited]);
    expect(rec.errors).toEqual([]);
    expect(rec.offHost).toEqual([]);
    await rec.context.close();
  });

  it("keeps a half-typed draft, its caret and focus through a live refresh, and approves what was typed", async () => {
    const requester = await must("POST", "/v1/sessions", { name: "dash-typist", role: "worker" });
    await must("POST", "/v1/sessions", { name: "dash-typist-advisor", role: "manager" });
    const sent = await must("POST", "/v1/messages", { to: "dash-typist-advisor", body: "Rename the module?", msg_type: "request" }, requester.token);
    const ingested = await must("POST", `/v1/broker/messages/${sent.message_id}/ingest`, {});
    await must("POST", "/v1/orchestrator/watch", { once: true });

    const rec = await signedIn();
    const { page } = rec;
    const area = page.locator(`textarea[data-advice="${ingested.advice_id}"]`);
    await area.waitFor({ timeout: 10_000 });
    await area.fill("Keep the name");
    // The caret mid-text: a rebuilt textarea would put it back at the end.
    for (let i = 0; i < 5; i++) await area.press("ArrowLeft");
    await page.evaluate((id) => {
      (window as any).typing = document.querySelector(`textarea[data-advice="${id}"]`);
    }, ingested.advice_id);
    const mark = await page.evaluate(() => document.body.getAttribute("data-watermark"));
    // Any write refreshes the page (the stream sends the new watermark); before, the refresh
    // rebuilt every card and the textarea under the caret was replaced.
    await must("POST", "/v1/sessions", { name: "dash-typist-bystander", role: "worker" });
    await page.waitForFunction((m) => document.body.getAttribute("data-watermark") !== m, mark, { timeout: 5000 });
    const kept = await page.evaluate((id) => {
      const now = document.querySelector(`textarea[data-advice="${id}"]`) as HTMLTextAreaElement;
      return { same: now === (window as any).typing, focused: document.activeElement === now, caret: now.selectionStart, value: now.value };
    }, ingested.advice_id);
    expect(kept).toEqual({ same: true, focused: true, caret: "Keep the".length, value: "Keep the name" });
    await page.keyboard.type(" old");
    await page.keyboard.press("End");
    await page.keyboard.type("; move the tests.");
    await page.locator(`[data-advice-card="${ingested.advice_id}"] button[data-action="approve"]`).click();
    await page.locator("#receipt.ok", { hasText: `approve ${ingested.advice_id}` }).waitFor({ timeout: 5000 });
    const shown = await must("GET", `/v1/broker/advice/${ingested.advice_id}`);
    expect(shown.advice.approved_text).toBe("Keep the old name; move the tests.");
    // The approved card shows the server's approved text, read-only.
    await page.locator(`[data-advice-card="${ingested.advice_id}"] button[data-action="send"]`).waitFor({ timeout: 5000 });
    expect(await area.inputValue()).toBe("Keep the old name; move the tests.");
    expect(await area.getAttribute("readonly")).not.toBeNull();
    expect(rec.errors).toEqual([]);
    await rec.context.close();
  });

  it("refuses the dashboard's data without the owner token, and the page says so for a wrong one", async () => {
    const session = await must("POST", "/v1/sessions", { name: "dash-intruder", role: "worker" });
    expect((await api("GET", "/v1/dashboard/overview", undefined, null)).status).toBe(401);
    expect((await api("GET", "/v1/dashboard/overview", undefined, session.token)).status).toBe(403);
    const stream = await fetch(`${base}/v1/dashboard/stream`, { headers: { Accept: "text/event-stream", Authorization: `Bearer ${session.token}` } });
    expect(stream.status).toBe(403);
    expect((await api("POST", "/v1/broker/advice/adv_x/approve", {}, session.token)).status).toBe(403);

    const rec = await recordedPage(browser!);
    await rec.page.goto(`${base}/dashboard`);
    await rec.page.locator("#token").fill(session.token);
    await rec.page.getByRole("button", { name: "Sign in" }).click();
    await rec.page.locator("#signin-error", { hasText: "Sign-in refused" }).waitFor({ timeout: 5000 });
    expect(await rec.page.locator("#main").isHidden()).toBe(true);
    expect(await rec.page.evaluate(() => sessionStorage.length)).toBe(0);
    await rec.context.close();
  });

  it("signs out when its token is revoked while the page is open, instead of reconnecting the stream every second", async () => {
    const minted = await must("POST", "/v1/tokens", { scope: "owner", label: "dashboard-revoke-test" });
    let streams = 0;
    const rec = await signedIn(minted.token, (r) => r.page.on("request", (req) => void (req.url().endsWith("/v1/dashboard/stream") && streams++)));
    expect(streams).toBe(1);
    await must("POST", `/v1/tokens/${minted.token_id}/revoke`, {});
    // The server ends the stream with an error event on its next change; the page forgets the token.
    await rec.page.locator("#signin-error", { hasText: "That token was refused" }).waitFor({ timeout: 10_000 });
    expect(await rec.page.locator("#main").isHidden()).toBe(true);
    expect(await rec.page.evaluate(() => sessionStorage.length)).toBe(0);
    const after = streams;
    // Before, the page reopened the stream with the dead token every second.
    await new Promise((r) => setTimeout(r, 3500));
    expect(streams).toBe(after);
    expect(rec.errors.filter((e) => e.startsWith("uncaught:"))).toEqual([]);
    await rec.context.close();
  });
});
