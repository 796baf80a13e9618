// Observation benchmarks: transcript ingest throughput on a 100 MB synthetic rollout, and the
// latency of an incremental cycle after 1 KB is appended (no pane capture). Run alone with
// `npx tsx bench/observe.ts`, or as part of `npm run bench`.
import { appendFileSync, mkdtempSync, openSync, rmSync, statSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../functions/app.ts";
import { resolveHome } from "../local-runner/home.ts";
import { NodeHost } from "../local-runner/host.ts";
import { openLocalServices } from "../local-runner/services.ts";
import { latencyRow, round, type BenchRow } from "./lib.ts";

/** An observation row; the ingest row also says its throughput. */
export type ObserveBenchRow = BenchRow & { mb_per_s?: number };

const line = (type: string, payload: Record<string, unknown>, ts: string) => `${JSON.stringify({ timestamp: ts, type, payload })}\n`;

/**
 * A turn shaped like a real Codex 0.169 rollout: task_started, the prompt (as a response item
 * and a thread item), a tool call with a large output, an agent message, token counts and the
 * completion. About 12 KB per turn.
 */
function turn(i: number): string {
  const ts = new Date(Date.UTC(2026, 10, 21, 0, 0, 0) + i * 1000).toISOString();
  const prompt = `Turn ${i}: please look at module ${i % 97} and fix the failing test`;
  const output = `${"src/module.ts:42: expected value to equal 3\n".repeat(160)}`;
  return (
    line("event_msg", { type: "task_started", turn_id: `t${i}` }, ts) +
    line("response_item", { type: "message", role: "user", content: [{ type: "input_text", text: prompt }] }, ts) +
    line("event_msg", { type: "item_completed", item: { type: "UserMessage", content: [{ type: "text", text: prompt }] } }, ts) +
    line("response_item", { type: "function_call", name: "exec_command", arguments: JSON.stringify({ cmd: "npm test" }) }, ts) +
    line("event_msg", { type: "item_completed", item: { type: "CommandExecution", command: "npm test", aggregated_output: output } }, ts) +
    line("response_item", { type: "function_call_output", output }, ts) +
    line(
      "event_msg",
      { type: "item_completed", item: { type: "AgentMessage", content: [{ type: "Text", text: `Fixed module ${i % 97}; all tests pass.` }] } },
      ts,
    ) +
    line("event_msg", { type: "token_count", info: { total_token_usage: { input_tokens: i * 100, output_tokens: i * 10 } } }, ts) +
    line("event_msg", { type: "task_complete", last_agent_message: `Fixed module ${i % 97}.` }, ts)
  );
}

/** Writes a synthetic rollout of at least `bytes` bytes; returns its size. */
export function writeRollout(path: string, bytes: number): number {
  const fd = openSync(path, "w");
  // A rollout starts with its session_meta record; registration checks for it.
  let buf = `${JSON.stringify({ timestamp: new Date().toISOString(), type: "session_meta", payload: { id: "bench", cwd: "/bench" } })}\n`;
  let size = Buffer.byteLength(buf);
  for (let i = 0; size < bytes; i++) {
    const t = turn(i);
    buf += t;
    size += Buffer.byteLength(t);
    if (buf.length > 4 * 1024 * 1024) {
      writeSync(fd, buf);
      buf = "";
    }
  }
  writeSync(fd, buf);
  closeSync(fd);
  return statSync(path).size;
}

/**
 * Time of `session-nudge` on the real Codex TUI (against the local model stub): type, settle,
 * Enter, and verification through the transcript. Each nudge waits for the previous turn to end.
 */
export async function nudgeBench(n = 10): Promise<ObserveBenchRow[]> {
  const { agentCommand, makeCodexHome, startStub, waitFor } = await import("../tests/helpers/agents.ts");
  const stub = await startStub(
    "codex",
    Array.from({ length: n + 2 }, (_, i) => `reply ${i}`),
  );
  const home = await makeCodexHome(stub.url);
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-nudge-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  const cmd = agentCommand("codex", home);
  services.agents = { codex: { command: cmd.argv, env: cmd.env } };
  const app = createApp(services);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { Authorization: `Bearer ${services.ownerToken}`, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  try {
    await call("POST", "/v1/sessions/spawn", { name: "nw", role: "worker", agent: "codex", cwd: home.workdir, prompt: "warm up", timeout_seconds: 60 });
    const idle = async () => (await call("GET", "/v1/sessions/nw/idle-check")).state === "idle" || undefined;
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      await waitFor(idle, 30_000, "worker idle");
      const t0 = performance.now();
      const r = await call("POST", "/v1/sessions/nw/nudge", { text: `nudge number ${i}` });
      samples.push(performance.now() - t0);
      if (!r.submitted) throw new Error(`nudge ${i} was not submitted`);
    }
    return [latencyRow("nudge_codex_tui", "session-nudge on the real Codex TUI (type, settle, Enter, verify)", samples)];
  } finally {
    await services.host!.tmuxKillSession("sy-codex-nw").catch(() => {});
    services.database.close();
    await stub.close();
    home.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the observation benchmarks and returns their rows. */
export async function observeBench(opts: { ingestMb?: number; cycles?: number } = {}): Promise<ObserveBenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-observe-"));
  const services = await openLocalServices({ home: { ...resolveHome({}, { home: dir }), hostName: "bench" } });
  // The bench writes its rollouts here: make it a transcript root, as SWITCHYARD_TRANSCRIPT_ROOTS would.
  services.host = new NodeHost({ transcriptRoots: [dir] });
  // Cycles and ingests are rate-limited routes (120 a minute per token): the bench times their
  // work, hundreds in a row, not the limiter's refusal of them.
  services.rateLimit = null;
  const app = createApp(services);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, {
      method,
      headers: { Authorization: `Bearer ${services.ownerToken}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  const rows: ObserveBenchRow[] = [];
  try {
    // 1. Full ingest of a large rollout, end to end into the database.
    const big = join(dir, "rollout-big.jsonl");
    const size = writeRollout(big, (opts.ingestMb ?? 100) * 1024 * 1024);
    await call("POST", "/v1/sessions", { name: "big", role: "worker", codex_session: big });
    const t0 = performance.now();
    const report = await call("POST", "/v1/sessions/big/ingest");
    const ms = performance.now() - t0;
    if (report.new_offset !== size) throw new Error(`ingested ${report.new_offset} of ${size} bytes`);
    const mbps = size / 1024 / 1024 / (ms / 1000);
    // The 50 MB/s target, expressed as the time this file may take.
    const budgetMs = round((size / 1024 / 1024 / 50) * 1000);
    rows.push({
      id: "ingest_100mb",
      label: `ingest ${round(size / 1024 / 1024)} MB rollout (${report.new_lines} lines) into the db: ${round(mbps)} MB/s`,
      n: 1,
      p50_ms: round(ms),
      p99_ms: round(ms),
      mb_per_s: round(mbps),
      target: { p50_ms: budgetMs },
      pass: mbps >= 50,
    });

    // 2. Incremental cycle: a bound worker whose rollout grows by ~1 KB between cycles.
    const small = join(dir, "rollout-small.jsonl");
    writeRollout(small, 64 * 1024);
    await call("POST", "/v1/sessions", { name: "w", role: "worker", codex_session: small });
    await call("POST", "/v1/sessions", { name: "m", role: "manager" });
    await call("POST", "/v1/tasks", { name: "t", goal: "bench" });
    await call("POST", "/v1/bindings", { task: "t", worker: "w", manager: "m" });
    await call("POST", "/v1/tasks/t/cycle");
    const kb = line(
      "event_msg",
      { type: "item_completed", item: { type: "AgentMessage", content: [{ type: "Text", text: "x".repeat(900) }] } },
      new Date().toISOString(),
    );
    const samples: number[] = [];
    const n = opts.cycles ?? 300;
    for (let i = 0; i < n + 20; i++) {
      appendFileSync(small, kb);
      const c0 = performance.now();
      const c = await call("POST", "/v1/tasks/t/cycle");
      const dt = performance.now() - c0;
      if (c.ingest.new_events !== 1) throw new Error(`cycle saw ${c.ingest.new_events} new events`);
      if (i >= 20) samples.push(dt);
    }
    rows.push(latencyRow("cycle_incremental_1kb", "cycle after 1 KB appended (no pane), in-process", samples, { p50_ms: 5 }));
  } finally {
    services.database.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of [...(await observeBench()), ...(await nudgeBench())]) process.stdout.write(`${JSON.stringify(r)}\n`);
}
