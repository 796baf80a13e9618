// Hook benchmarks: how long the agent waits for Switchyard to take one hook event over HTTP (the
// hook's whole cost to the agent), and how soon a worker's finished turn reaches its manager's
// inbox when the Stop hook reports it versus when a dispatcher finds it by polling the
// transcript, side by side in one run. Run alone with `npx tsx bench/hooks.ts` (writes
// bench/results/hooks.json), or as part of `npm run bench`.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeCtx } from "../functions/lib/ctx.ts";
import { routeCompletions } from "../functions/messages/routing.ts";
import { resolveHome } from "../local-runner/home.ts";
import { NodeHost } from "../local-runner/host.ts";
import { openLocalServices } from "../local-runner/services.ts";
import { startUp } from "../local-runner/up.ts";
import { latencyRow, round, type BenchRow } from "./lib.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The hook ingestion target: p99 under 20 ms, so a hook never slows the agent. */
export const HOOK_P99_TARGET_MS = 20;

/** Every hook row, with the ratio of the two completion paths. */
export async function hooksBench(
  opts: { turns?: number; completions?: number; pollMs?: number } = {},
): Promise<{ rows: BenchRow[]; ratios: Record<string, number> }> {
  const turns = opts.turns ?? 150;
  const completions = opts.completions ?? 30;
  const pollMs = opts.pollMs ?? 2000;
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-hooks-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  // The bench writes its rollouts here: make it a transcript root, as SWITCHYARD_TRANSCRIPT_ROOTS would.
  services.host = new NodeHost({ transcriptRoots: [dir] });
  const up = await startUp(services, { port: 0, hostname: "127.0.0.1", schedules: [] });
  let stopLoop = false;
  try {
    const call = async (method: string, path: string, body?: unknown, token = services.ownerToken) => {
      const res = await fetch(`${up.url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
      return text ? JSON.parse(text) : null;
    };
    const rollout = (name: string) => {
      const p = join(dir, `${name}.jsonl`);
      writeFileSync(p, `${JSON.stringify({ timestamp: new Date().toISOString(), type: "session_meta", payload: { id: name } })}\n`);
      return p;
    };
    const hookRollout = rollout("hook-worker");
    const pollRollout = rollout("poll-worker");
    await call("POST", "/v1/sessions", { name: "hook-w", role: "worker", codex_session: hookRollout });
    await call("POST", "/v1/sessions", { name: "poll-w", role: "worker", codex_session: pollRollout });
    const manager = await call("POST", "/v1/sessions", { name: "mgr", role: "manager" });
    for (const [task, worker] of [
      ["hook-task", "hook-w"],
      ["poll-task", "poll-w"],
    ]) {
      await call("POST", "/v1/tasks", { name: task, goal: "bench" });
      await call("POST", "/v1/bindings", { task, worker, manager: "mgr" });
    }
    const hookToken = (await call("POST", "/v1/sessions/hook-w/hook-token")).token as string;

    // 1. Hook ingestion: a turn's events as Codex posts them, each timed as the agent waits for it.
    const base = { session_id: "thread-bench", transcript_path: hookRollout, cwd: dir, model: "stub-model", permission_mode: "default" };
    const all: number[] = [];
    const stops: number[] = [];
    for (let t = -10; t < turns; t++) {
      const turn_id = `turn-ingest-${t}`;
      const events = [
        { ...base, turn_id, hook_event_name: "UserPromptSubmit", prompt: `do part ${t}` },
        { ...base, turn_id, hook_event_name: "PreToolUse", tool_name: "Bash", tool_input: { command: "npm test" }, tool_use_id: `call-${t}` },
        {
          ...base,
          turn_id,
          hook_event_name: "PostToolUse",
          tool_name: "Bash",
          tool_input: { command: "npm test" },
          tool_response: "ok",
          tool_use_id: `call-${t}`,
        },
        { ...base, turn_id, hook_event_name: "Stop", stop_hook_active: false, last_assistant_message: `done ${t}` },
      ];
      for (const e of events) {
        const t0 = performance.now();
        await call("POST", "/v1/hooks/codex", e, hookToken);
        const dt = performance.now() - t0;
        if (t < 0) continue;
        all.push(dt);
        if (e.hook_event_name === "Stop") stops.push(dt);
      }
    }
    // Empty the manager's inbox of the ingest phase's completions.
    while ((await call("POST", "/v1/sessions/mgr/inbox/consume", { wait: false }, manager.token)).item);

    // 2. Completion -> manager, by hook and by transcript polling, turn and turn about. The
    // dispatcher loop stands in for `switchyard dispatch` (its default interval is 2 s).
    const ctx = makeCtx(services, { kind: "daemon", tokenId: "bench" });
    const loop = (async () => {
      while (!stopLoop) {
        await routeCompletions(ctx);
        await sleep(pollMs);
      }
    })();
    const arrival = async () => {
      const r = await call("POST", "/v1/sessions/mgr/inbox/consume", { wait: true, timeout: 30, interval: 0.1 }, manager.token);
      if (!r.item) throw new Error("no completion reached the manager within 30 s");
      return performance.now();
    };
    const byHook: number[] = [];
    const byPoll: number[] = [];
    for (let i = 0; i < completions; i++) {
      {
        const waiting = arrival();
        await sleep(20);
        const t0 = performance.now();
        await call(
          "POST",
          "/v1/hooks/codex",
          { ...base, turn_id: `turn-hook-${i}`, hook_event_name: "Stop", stop_hook_active: false, last_assistant_message: `hook ${i}` },
          hookToken,
        );
        byHook.push((await waiting) - t0);
      }
      {
        const waiting = arrival();
        // A different phase of the dispatcher's cycle each time (a fixed stride, no randomness),
        // so the samples spread over the interval instead of all landing just after a pass.
        await sleep(20 + ((i * 737) % pollMs));
        const t0 = performance.now();
        const ts = new Date().toISOString();
        appendFileSync(
          pollRollout,
          `${JSON.stringify({ timestamp: ts, type: "event_msg", payload: { type: "task_started", turn_id: `turn-poll-${i}` } })}\n${JSON.stringify({ timestamp: ts, type: "event_msg", payload: { type: "task_complete", turn_id: `turn-poll-${i}`, last_agent_message: `poll ${i}` } })}\n`,
        );
        byPoll.push((await waiting) - t0);
      }
    }
    stopLoop = true;
    await loop;
    const ingest = latencyRow("hook_ingest_http", "hook event posted over HTTP (Codex turn mix), as the agent waits for it", all);
    const ingestPass = ingest.p99_ms < HOOK_P99_TARGET_MS;
    const rows: BenchRow[] = [
      { ...ingest, target: { p99_ms: HOOK_P99_TARGET_MS }, pass: ingestPass },
      latencyRow("hook_ingest_stop_http", "Stop hook over HTTP (records it and routes the completion to the manager)", stops),
      latencyRow("completion_to_manager_hook", "worker's turn ends -> manager's inbox, by the Stop hook", byHook),
      latencyRow("completion_to_manager_poll", `worker's turn ends -> manager's inbox, by transcript polling (dispatch every ${pollMs / 1000} s)`, byPoll),
    ];
    const p50 = (id: string) => rows.find((r) => r.id === id)!.p50_ms;
    return { rows, ratios: { completion_poll_over_hook: round(p50("completion_to_manager_poll") / p50("completion_to_manager_hook")) } };
  } finally {
    stopLoop = true;
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await hooksBench();
  for (const row of r.rows) console.log(JSON.stringify(row));
  console.log(JSON.stringify(r.ratios));
  const machine = { cpus: cpus().length, platform: `${process.platform} ${process.arch}`, node: process.version, loadavg_1m: round(loadavg()[0]!) };
  const out = join(fileURLToPath(new URL("..", import.meta.url)), "bench", "results", "hooks.json");
  writeFileSync(out, `${JSON.stringify({ recorded_at: new Date().toISOString(), machine, ...r }, null, 2)}\n`);
}
