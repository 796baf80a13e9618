import { appendFileSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../../../local-runner/cli/main.ts";
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

const get = async (path: string, token?: string) => {
  const r = await env.call("GET", path, { token });
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

/** Every file under a directory, recursively, as text. */
function filesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out[join(e.parentPath, e.name)] = readFileSync(join(e.parentPath, e.name), "utf8");
  }
  return out;
}

/** Runs the CLI in-process against the test's home and returns what it printed. */
async function cli(...argv: string[]) {
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
    out.push(String(s));
    return true;
  });
  try {
    const code = await runCli([...argv, "--home", env.dir], { out: (s) => out.push(s), err: (s) => out.push(s) });
    return { code, out: out.join("\n") };
  } finally {
    write.mockRestore();
  }
}

describe("the telemetry stream", () => {
  it("holds the task's audit events, cycles, finished commands and attempts, newest first", async () => {
    const page = await get(`/v1/telemetry?task=${t.task}&limit=500`);
    const sources = new Set(page.events.map((e: any) => e.source));
    for (const s of ["audit", "cycle", "command", "attempt"]) expect(sources).toContain(s);
    const ids = page.events.map((e: any) => e.id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    expect(page.events.every((e: any) => e.task_id === t.taskId)).toBe(true);
    const attempt = page.events.find((e: any) => e.source === "attempt");
    expect(attempt).toMatchObject({ run_id: "obs-dispatch", outcome: "ok" });
    expect(attempt.summary).toMatch(/^attempt nudge_worker ok command_id=cmd_/);
  });

  it("searches with FTS5: every word must match, prefixes with *, filters by task and run, pages by cursor", async () => {
    const found = await get(`/v1/telemetry?search=${encodeURIComponent("nudge_worker succeeded")}`);
    expect(found.count).toBe(1);
    expect(found.events[0]).toMatchObject({ source: "command", kind: "command_succeeded" });
    const byTaskName = await get(`/v1/telemetry?search=${encodeURIComponent(t.task)}&limit=500`);
    expect(byTaskName.count).toBeGreaterThan(5);
    expect(byTaskName.events.every((e: any) => e.task_id === t.taskId)).toBe(true);
    const prefix = await get(`/v1/telemetry?search=${encodeURIComponent("dispatch_inbox*")}&limit=500`);
    expect(prefix.events.map((e: any) => e.kind)).toEqual(expect.arrayContaining(["dispatch_inbox_consumed"]));
    const run = await get("/v1/telemetry?run=obs-dispatch&limit=500");
    expect(run.count).toBeGreaterThan(0);
    expect(run.events.every((e: any) => e.run_id === "obs-dispatch")).toBe(true);

    const first = await get(`/v1/telemetry?search=${encodeURIComponent(t.task)}&limit=2`);
    const second = await get(`/v1/telemetry?search=${encodeURIComponent(t.task)}&limit=2&cursor=${first.next_cursor}`);
    expect(second.events[0].id).toBeLessThan(first.events[1].id);
    // FTS5 syntax in the box is taken as words, never as a query: no error, no match.
    expect((await get(`/v1/telemetry?search=${encodeURIComponent('NEAR(" OR *')}`)).count).toBe(0);
    const none = await env.call("GET", `/v1/telemetry?search=${encodeURIComponent("* - ( )")}`);
    expect(none.status).toBe(400);
    expect(none.body.error.fields).toEqual([expect.objectContaining({ field: "search" })]);
  });

  it("summarises a task and a run by source and outcome", async () => {
    const s = await get(`/v1/telemetry/summary?task=${t.task}`);
    expect(s.counts.total).toBe((await get(`/v1/telemetry?task=${t.task}&limit=500`)).count);
    expect(s.counts.by_source.cycle).toEqual({ total: 1, failed: 0 });
    expect((await get("/v1/telemetry/summary?run=obs-dispatch")).counts.by_source.attempt.total).toBeGreaterThan(0);
    expect((await env.call("GET", "/v1/telemetry/summary?task=ghost")).status).toBe(404);
  });

  it("reports a failed cycle in the task view, the failures view and the metrics", async () => {
    rmSync(t.rollout);
    env.clock.advance(10);
    const failed = await env.call("POST", `/v1/tasks/${t.task}/cycle`, { body: {} });
    expect(failed.status).toBeGreaterThanOrEqual(400);

    const view = await get(`/v1/telemetry/tasks/${t.task}`);
    expect(view.failed_cycles).toHaveLength(1);
    expect(view.last_successful_cycle.id).toBeLessThan(view.recent_cycles[0].id);
    expect(view).toMatchObject({ binding: { worker: t.worker.name, manager: t.manager.name }, criteria: { proposed: 1 }, open_criteria: 1 });
    expect(view.decisions).toEqual([expect.objectContaining({ decision: "nudge" })]);
    expect(view.storage.transcript_events).toBeGreaterThan(0);

    const failures = await get("/v1/telemetry/failures?window=1h");
    expect(failures.counts.failed_cycles).toBe(1);
    expect(failures.failures[0]).toMatchObject({ source: "cycle", outcome: "failed", task_id: t.taskId });
    expect((await get(`/v1/telemetry/failures?window=1h&task=${t.task}`)).count).toBeGreaterThan(0);
    expect((await get("/v1/telemetry/failures?window=1h&active_only=true")).count).toBeGreaterThan(0);
    env.clock.advance(7200);
    expect((await get("/v1/telemetry/failures?window=1h")).counts.failed_cycles).toBe(0);
    expect((await env.call("GET", "/v1/telemetry/failures?window=soon")).status).toBe(400);

    const metrics = await get("/v1/telemetry/metrics?window=24h");
    expect(metrics).toMatchObject({ cycles: { ok: 1, failed: 1 }, commands: { succeeded: expect.any(Number) }, active_tasks: 1 });
    expect(metrics.attempts.ok).toBeGreaterThan(0);
  });

  it("snapshots a task the way the dashboard shows it", async () => {
    const s = await get(`/v1/telemetry/snapshot?task=${t.task}`);
    expect(s).toMatchObject({
      task: t.task,
      binding: { worker: { name: t.worker.name }, manager: { name: t.manager.name } },
      last_cycle: { state: "ok", worker_state: "idle" },
      inbox: { pending: expect.any(Number), consumed: 1 },
      commands: { succeeded: expect.any(Number) },
    });
    expect(s.dispatchers.map((d: any) => d.id)).toContain("obs-dispatch");
  });

  it("is for the owner and daemons", async () => {
    const daemon = await env.mint("daemon");
    for (const p of [
      "/v1/telemetry",
      `/v1/telemetry/tasks/${t.task}`,
      "/v1/telemetry/failures",
      "/v1/telemetry/metrics",
      `/v1/telemetry/snapshot?task=${t.task}`,
    ]) {
      expect((await env.call("GET", p, { token: daemon })).status, p).toBe(200);
      expect((await env.call("GET", p, { token: t.manager.token })).status, p).toBe(403);
      expect((await env.call("GET", p, { token: null })).status, p).toBe(401);
    }
  });
});

describe("transcript segments", () => {
  it("captures deduplicated segments, shows them redacted, prunes their text and keeps the metadata", async () => {
    const cap = await env.call("POST", `/v1/tasks/${t.task}/transcript-capture`, { body: { role: "worker" } });
    expect(cap.status).toBe(200);
    expect(cap.body.captured).toEqual([expect.objectContaining({ session: t.worker.name, mode: "events", lines: 3, first_event_id: expect.any(Number) })]);
    expect(cap.body.captured[0].content).toMatch(/^\[redacted \d+ chars\]$/);
    const again = await env.call("POST", `/v1/tasks/${t.task}/transcript-capture`, { body: { role: "worker", mode: "both" } });
    expect(again.body.captured).toEqual([]);
    expect(again.body.skipped.map((s: any) => s.reason)).toEqual(["no new messages since the last capture", "the session has no tmux pane"]);

    const shown = await get(`/v1/tasks/${t.task}/transcript-segments`);
    expect(shown.segments).toHaveLength(1);
    expect(JSON.stringify(shown)).not.toContain(TRANSCRIPT_SECRET);
    expect((await get(`/v1/tasks/${t.task}/transcript-segments?include_content=true`)).segments[0].content).toContain(TRANSCRIPT_SECRET);

    // No body is `{}`: the defaults (keep the latest 5, not a dry run) apply, so nothing is dropped.
    const bare = await env.call("POST", `/v1/tasks/${t.task}/transcript-prune`);
    expect(bare.body).toMatchObject({ keep_latest: 5, dry_run: false, segments_pruned: 0 });
    expect((await get(`/v1/tasks/${t.task}/transcript-segments?include_content=true`)).segments[0].content).toContain(TRANSCRIPT_SECRET);
    const dry = await env.call("POST", `/v1/tasks/${t.task}/transcript-prune`, { body: { keep_latest: 0, dry_run: true } });
    expect(dry.body).toMatchObject({ dry_run: true, segments_pruned: 1 });
    expect((await get(`/v1/tasks/${t.task}/transcript-segments?include_content=true`)).segments[0].content).toContain(TRANSCRIPT_SECRET);
    const pruned = await env.call("POST", "/v1/admin/prune", { body: { keep_latest: 0 } });
    expect(pruned.body).toMatchObject({ dry_run: false, segments_pruned: 1, bytes_dropped: cap.body.captured[0].bytes });
    const after = (await get(`/v1/tasks/${t.task}/transcript-segments?include_content=true`)).segments[0];
    expect(after).toMatchObject({
      content: null,
      content_hash: cap.body.captured[0].content_hash,
      bytes: cap.body.captured[0].bytes,
      pruned_at: expect.any(String),
    });
    expect((await env.call("POST", "/v1/admin/prune", { body: {}, token: await env.mint("daemon") })).status).toBe(403);
  });

  it("filters a role in the query: no empty page that claims there is more", async () => {
    expect((await env.call("POST", `/v1/tasks/${t.task}/transcript-capture`, { body: { role: "worker" } })).status).toBe(200);
    env.clock.advance(5);
    appendFileSync(
      t.rollout,
      `${JSON.stringify({ timestamp: new Date(env.clock.ms).toISOString(), type: "event_msg", payload: { type: "agent_message", message: "more" } })}\n`,
    );
    const second = await env.call("POST", `/v1/tasks/${t.task}/transcript-capture`, { body: { role: "worker" } });
    expect(second.body.captured).toHaveLength(1);
    const workers = await get(`/v1/tasks/${t.task}/transcript-segments?role=worker&limit=1`);
    expect(workers.segments).toHaveLength(1);
    expect(workers.next_cursor).toEqual(expect.any(String));
    const managers = await get(`/v1/tasks/${t.task}/transcript-segments?role=manager&limit=1`);
    expect(managers).toMatchObject({ segments: [], next_cursor: null });
  });
});

describe("export-task", () => {
  it("writes a folder bundle with a readable report, and a zip with the same files", async () => {
    const out = join(env.dir, "exports");
    mkdirSync(out);
    const r = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: out } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const names = r.body.files.map((f: any) => f.name);
    for (const n of [
      "status.json",
      "audit.json",
      "prompts.json",
      "transcripts.json",
      "telemetry-events.json",
      "telemetry-summary.json",
      "telemetry-report.md",
      "report.md",
      "manifest.json",
    ]) {
      expect(names).toContain(n);
    }
    expect(r.body.path.startsWith(out)).toBe(true);
    const report = readFileSync(join(r.body.path, "report.md"), "utf8");
    expect(report).toContain(`# Task ${t.task}`);
    expect(report).toContain(`worker: ${t.worker.name}`);
    const prompts = JSON.parse(readFileSync(join(r.body.path, "prompts.json"), "utf8"));
    expect(prompts.prompts).toEqual(expect.arrayContaining([expect.objectContaining({ type: "nudge_worker", text: expect.stringMatching(/^\[redacted/) })]));
    const transcripts = JSON.parse(readFileSync(join(r.body.path, "transcripts.json"), "utf8"));
    expect(transcripts.sessions.find((s: any) => s.name === t.worker.name)).toMatchObject({ transcript_kind: "codex", events: 5 });

    const z = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: out, zip: true } });
    expect(z.status).toBe(201);
    const entries = unzipSync(readFileSync(z.body.path));
    expect(
      Object.keys(entries)
        .map((k) => k.split("/")[1])
        .sort(),
    ).toEqual([...names].sort());
  });

  it("validates the directory: missing, relative, or a symlink out of it, and never overwrites", async () => {
    const missing = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: join(env.dir, "nope") } });
    expect(missing.status).toBe(422);
    expect(missing.body.error.code).toBe("PATH_NOT_FOUND");
    expect((await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: "relative/dir" } })).body.error.code).toBe("PATH_NOT_ALLOWED");
    // A bundle folder name that already exists as a symlink to elsewhere is refused, not followed.
    const out = join(env.dir, "target");
    const elsewhere = join(env.dir, "elsewhere");
    mkdirSync(out);
    mkdirSync(elsewhere);
    const stamp = new Date(env.clock.ms)
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z");
    symlinkSync(elsewhere, join(out, `${t.task}-${stamp}`));
    const escaped = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: out } });
    expect(escaped.status).toBe(422);
    expect(escaped.body.error.code).toBe("PATH_NOT_ALLOWED");
    expect(readdirSync(elsewhere)).toEqual([]);
    rmSync(join(out, `${t.task}-${stamp}`));
    const once = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: out, zip: true } });
    expect(once.status).toBe(201);
    expect(once.body.path).toBe(join(realpathSync(out), `${t.task}-${stamp}.zip`));
    // The same second again (the clock has not moved): the next free name, nothing overwritten.
    const twice = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: out, zip: true } });
    expect(twice.status).toBe(201);
    expect(twice.body.path).toBe(join(realpathSync(out), `${t.task}-${stamp}-2.zip`));
    const folder = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: out } });
    expect(folder.status).toBe(201);
    const again = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: out } });
    expect(again.status).toBe(201);
    expect(again.body.path).toBe(join(realpathSync(out), `${t.task}-${stamp}-2`));
    expect(readdirSync(join(out, `${t.task}-${stamp}-2`)).sort()).toEqual(readdirSync(join(out, `${t.task}-${stamp}`)).sort());
    expect((await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: out }, token: await env.mint("daemon") })).status).toBe(403);
  });
});

describe("redaction", () => {
  it("keeps the planted transcript and prompt secrets out of every default view, CLI output and export", async () => {
    const outputs: Record<string, string> = {};
    const views = [
      `/v1/tasks/${t.task}/audit`,
      `/v1/tasks/${t.task}/replay?format=compact`,
      `/v1/tasks/${t.task}/replay?format=timeline`,
      `/v1/tasks/${t.task}/replay?format=transcript`,
      `/v1/telemetry?limit=500`,
      `/v1/telemetry?task=${t.task}&limit=500`,
      `/v1/telemetry?search=sk&limit=500`,
      `/v1/telemetry/summary?task=${t.task}`,
      `/v1/telemetry/tasks/${t.task}`,
      "/v1/telemetry/failures",
      "/v1/telemetry/metrics",
      `/v1/telemetry/snapshot?task=${t.task}`,
      `/v1/tasks/${t.task}/transcript-segments`,
      "/v1/dashboard/overview",
      "/v1/dashboard/stream",
    ];
    await env.call("POST", `/v1/tasks/${t.task}/transcript-capture`, { body: {} });
    for (const v of views) outputs[v] = JSON.stringify(await get(v));
    // The full-text index never saw them (the answer echoes the query, so only its rows count).
    for (const secret of [TRANSCRIPT_SECRET, PROMPT_SECRET]) expect((await get(`/v1/telemetry?search=${secret}`)).count).toBe(0);

    for (const argv of [
      ["audit", t.task],
      ["audit", t.task, "--json"],
      ["replay", t.task, "--format", "timeline"],
      ["replay", t.task, "--format", "transcript", "--json"],
      ["telemetry", "--task", t.task],
      ["telemetry", "--summary", "--task", t.task],
      ["telemetry", "task", t.task, "--json"],
      ["telemetry", "failures"],
      ["telemetry", "metrics"],
      ["telemetry", "snapshot", "--task", t.task],
      ["transcript-show", t.task],
    ]) {
      const r = await cli(...argv);
      expect(r.code, `${argv.join(" ")}: ${r.out}`).toBe(0);
      outputs[`cli ${argv.join(" ")}`] = r.out;
    }

    const out = join(env.dir, "bundle");
    mkdirSync(out);
    const exp = await cli("export-task", t.task, "--out", out);
    expect(exp.code, exp.out).toBe(0);
    const zip = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: out, zip: true } });
    for (const [path, text] of Object.entries(filesUnder(out))) {
      if (path.endsWith(".zip")) {
        for (const [name, bytes] of Object.entries(unzipSync(readFileSync(path)))) outputs[`zip ${name}`] = new TextDecoder().decode(bytes);
      } else outputs[path] = text;
    }
    expect(Object.keys(outputs).filter((k) => k.startsWith("zip ")).length).toBe(zip.body.files.length);

    const rows = await env.services.database.client.execute("SELECT summary FROM telemetry_events");
    outputs["telemetry_events.summary"] = rows.rows.map((r) => String(r.summary)).join("\n");

    const leaks = Object.entries(outputs)
      .filter(([, text]) => text.includes(TRANSCRIPT_SECRET) || text.includes(PROMPT_SECRET))
      .map(([where]) => where);
    expect(leaks).toEqual([]);
    expect(Object.keys(outputs).length).toBeGreaterThan(40);

    // The same views with content asked for do carry the secrets, so the check above can fail.
    const withContent = JSON.stringify(await get(`/v1/tasks/${t.task}/audit?include_content=true`));
    expect(withContent).toContain(TRANSCRIPT_SECRET);
    expect(withContent).toContain(PROMPT_SECRET);
    const full = join(env.dir, "full");
    mkdirSync(full);
    const fullExport = await env.call("POST", `/v1/tasks/${t.task}/export`, { body: { dir: full, include_content: true } });
    const fullText = Object.values(filesUnder(fullExport.body.path)).join("\n");
    expect(fullText).toContain(TRANSCRIPT_SECRET);
    expect(fullText).toContain(PROMPT_SECRET);
  });
});
