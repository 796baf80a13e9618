import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { codexRollout, holdOpen } from "../../helpers/transcripts.ts";
import { killTmux, startFakeTui } from "../actuate/fake-tui.ts";
import { driveObservedTask, PROMPT_SECRET, TRANSCRIPT_SECRET, type ObservedTask } from "../../helpers/observed-task.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
let t: ObservedTask;
beforeEach(async () => {
  env = await makeTestEnv();
  t = await driveObservedTask(env);
});
afterEach(async () => {
  await t?.stop();
  env.close();
});

describe("replay", () => {
  it("merges cycles, audit events, commands with attempts, routed notifications, decisions, criteria and broker actions in time order", async () => {
    const r = await env.call("GET", `/v1/tasks/${t.task}/replay?format=timeline`);
    expect(r.status).toBe(200);
    const sources = new Set(r.body.entries.map((e: any) => e.source));
    for (const s of ["cycle", "audit", "command", "inbox", "decision", "criterion", "broker"]) expect(sources, s).toContain(s);
    const ats = r.body.entries.map((e: any) => e.at);
    expect([...ats].sort()).toEqual(ats);
    expect(r.body.next_cursor).toBeNull();

    const completion = r.body.entries.find((e: any) => e.source === "inbox" && e.detail.signal_type === "worker_task_complete");
    expect(completion.detail).toMatchObject({
      delivery_mode: "pull_required",
      source_session: t.worker.name,
      target_session: t.manager.name,
      consumed_by: expect.any(String),
    });
    expect(completion.detail.consumed_at).not.toBeNull();
    expect(completion.summary).toContain(`${t.worker.name} -> ${t.manager.name} (pull_required)`);

    const nudge = r.body.entries.find((e: any) => e.source === "command" && e.detail.type === "nudge_worker");
    expect(nudge.detail.state).toBe("succeeded");
    expect(nudge.detail.attempts).toEqual([expect.objectContaining({ dispatcher_id: "obs-dispatch", side_effect_completed: true })]);
    const advice = r.body.entries.find((e: any) => e.source === "broker");
    expect(advice.detail).toMatchObject({ state: "sent", requester_session: t.worker.name, approved_by: expect.stringMatching(/^owner:/) });
    expect(r.body.lines.length).toBe(r.body.entries.length);
  });

  it("marks a cycle whose pane signal flagged a pattern", async () => {
    const tui = await startFakeTui(env, 600_000);
    const holder = await holdOpen(codexRollout(env, "pattern-manager"));
    try {
      const w = await registerSession(env, "worker", { codex_session: tui.rollout, tmux_session: tui.tmux });
      const m = await registerSession(env, "manager", { pid: holder.pid, codex_session: codexRollout(env, "pattern-manager", null) });
      const task = (await createTask(env)).task.name;
      expect((await env.call("POST", "/v1/bindings", { body: { task, worker: w.session.name, manager: m.session.name } })).status).toBe(201);
      await env.call("POST", `/v1/sessions/${w.session.name}/nudge`, { body: { text: "long job" } });
      env.clock.advance(120);
      const cycle = await env.call("POST", `/v1/tasks/${task}/cycle`, { body: { busy_wait_seconds: 30 } });
      expect(cycle.body.notable_pane_pattern).toBe("long_running_interruptible");
      const replay = await env.call("GET", `/v1/tasks/${task}/replay`);
      const line = replay.body.lines.find((l: string) => l.includes(`cycle ${cycle.body.cycle_id} ok`));
      expect(line).toContain("[pane pattern: long_running_interruptible]");
    } finally {
      await killTmux(env, tui.tmux);
      await holder.stop();
    }
  });

  it("pages without repeating or skipping", async () => {
    const all = (await env.call("GET", `/v1/tasks/${t.task}/replay?limit=5000`)).body.entries.map((e: any) => `${e.source}:${e.id}`);
    const paged: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await env.call("GET", `/v1/tasks/${t.task}/replay?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      paged.push(...page.body.entries.map((e: any) => `${e.source}:${e.id}`));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor && pages < 100);
    expect(paged).toEqual(all);
    expect(pages).toBeGreaterThan(3);
    expect((await env.call("GET", `/v1/tasks/${t.task}/replay?cursor=notacursor`)).status).toBe(400);
  });

  it("refuses a replay cursor of another task or view, and forged positions", async () => {
    const first = await env.call("GET", `/v1/tasks/${t.task}/replay?limit=2`);
    const cursor = first.body.next_cursor;
    expect(cursor).toEqual(expect.any(String));
    expect((await env.call("GET", `/v1/tasks/${t.task}/replay?limit=2&cursor=${cursor}`)).status).toBe(200);
    const other = await createTask(env);
    const b64 = (v: unknown) => btoa(JSON.stringify(v)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
    const [tag, key] = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
    const refused = [
      `/v1/tasks/${other.task.name}/replay?cursor=${cursor}`,
      `/v1/tasks/${t.task}/replay?role=worker&cursor=${cursor}`,
      `/v1/tasks/${t.task}/replay?format=transcript&cursor=${cursor}`,
      `/v1/tasks/${t.task}/replay?cursor=${b64(Array(12).fill(99))}`,
      `/v1/tasks/${t.task}/replay?cursor=${b64([tag, key.map((k: number, i: number) => (i === 0 ? -5 : k))])}`,
      `/v1/tasks/${t.task}/replay?cursor=${b64([tag, key.map((k: number, i: number) => (i === 0 ? 0.5 : k))])}`,
    ];
    for (const path of refused) {
      const res = await env.call("GET", path);
      expect(res.status, path).toBe(400);
      expect(res.body.error.fields[0].field).toBe("cursor");
    }
  });

  it("shows what is recorded while a caller pages exactly once, after what it had already seen", async () => {
    const paged: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await env.call("GET", `/v1/tasks/${t.task}/replay?limit=4${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      expect(page.body.entries.length).toBeLessThanOrEqual(4);
      paged.push(...page.body.entries.map((e: any) => `${e.source}:${e.id}`));
      cursor = page.body.next_cursor;
      // New decisions, criteria and their audit rows land while the caller is between pages.
      if (pages === 1 || pages === 3) {
        env.clock.advance(1);
        expect(
          (await env.call("POST", `/v1/tasks/${t.task}/decisions`, { token: t.manager.token, body: { decision: "wait", reason: `page ${pages}` } })).status,
        ).toBe(201);
        expect(
          (
            await env.call("POST", `/v1/tasks/${t.task}/criteria`, {
              token: t.manager.token,
              body: { criterion: `added on page ${pages}`, source: "manager_inferred" },
            })
          ).status,
        ).toBe(201);
      }
      pages++;
    } while (cursor && pages < 200);
    const all = (await env.call("GET", `/v1/tasks/${t.task}/replay?limit=500`)).body.entries.map((e: any) => `${e.source}:${e.id}`);
    expect(new Set(paged).size).toBe(paged.length);
    expect(paged).toEqual(all);
    expect(paged.filter((k) => k.startsWith("decision:")).length).toBeGreaterThanOrEqual(3);
  });

  it("filters by role and shows the sessions' messages in the transcript formats", async () => {
    const worker = (await env.call("GET", `/v1/tasks/${t.task}/replay?role=worker&format=transcript`)).body;
    expect(worker.entries.length).toBeGreaterThan(0);
    expect(worker.entries.every((e: any) => e.role === "worker")).toBe(true);
    const messages = worker.entries.filter((e: any) => e.source === "transcript");
    expect(messages.map((e: any) => e.detail.kind)).toEqual(["user_message", "agent_message", "task_complete"]);
    expect(JSON.stringify(worker)).not.toContain(TRANSCRIPT_SECRET);

    const full = await env.call("GET", `/v1/tasks/${t.task}/replay?format=full-transcript&include_content=true`);
    expect(full.body.lines.join("\n")).toContain(`the new key is ${TRANSCRIPT_SECRET}`);
  });

  it("refuses full-transcript without include_content, and an unknown task", async () => {
    const r = await env.call("GET", `/v1/tasks/${t.task}/replay?format=full-transcript`);
    expect(r.status).toBe(400);
    expect(r.body.error.fields).toEqual([expect.objectContaining({ field: "format" })]);
    expect((await env.call("GET", "/v1/tasks/ghost/replay")).status).toBe(404);
  });

  it("is for the owner and daemons only", async () => {
    expect((await env.call("GET", `/v1/tasks/${t.task}/replay`, { token: await env.mint("daemon") })).status).toBe(200);
    expect((await env.call("GET", `/v1/tasks/${t.task}/replay`, { token: t.manager.token })).status).toBe(403);
    expect((await env.call("GET", `/v1/tasks/${t.task}/replay`, { token: await env.mint("runner", "test-host") })).status).toBe(403);
  });
});

describe("audit sections", () => {
  it("returns every section of the task, redacted by default, complete with include_content", async () => {
    const r = await env.call("GET", `/v1/tasks/${t.task}/audit`);
    expect(r.status).toBe(200);
    for (const s of [
      "events",
      "commands",
      "command_attempts",
      "manager_cycles",
      "routed_notifications",
      "correlation_chains",
      "decisions",
      "criteria",
      "broker_actions",
      "bindings",
      "sessions",
    ]) {
      expect(r.body[s].length, s).toBeGreaterThan(0);
    }
    expect(r.body.truncated).toEqual([]);
    const text = JSON.stringify(r.body);
    expect(text).not.toContain(TRANSCRIPT_SECRET);
    expect(text).not.toContain(PROMPT_SECRET);
    const full = JSON.stringify((await env.call("GET", `/v1/tasks/${t.task}/audit?include_content=true`)).body);
    expect(full).toContain(TRANSCRIPT_SECRET);
    expect(full).toContain(PROMPT_SECRET);
    expect((await env.call("GET", `/v1/tasks/${t.task}/audit?limit=1`)).body.truncated).toContain("events");
  });
});
