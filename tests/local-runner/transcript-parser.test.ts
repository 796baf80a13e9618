// The parser thread prepares transcript chunks exactly as ingest does inline, so which of the two
// ran never shows in the stored rows.
import { appendFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { TranscriptChunkJob } from "../../functions/lib/host.ts";
import { prepareTranscriptChunk } from "../../functions/observe/ingest-chunk.ts";
import { MIN_OFFLOAD_BYTES, transcriptParser } from "../../local-runner/transcript-parser.ts";
import { registerSession } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";
import { codexMeta, codexRollout } from "../helpers/transcripts.ts";
import { runWithDeadline } from "../helpers/child-deadline.ts";

let env: TestEnv | undefined;
afterEach(() => env?.close());

const enc = new TextEncoder();
const codexLine = (i: number) =>
  `${JSON.stringify({ timestamp: new Date(Date.UTC(2026, 10, 21) + i).toISOString(), type: "event_msg", payload: { type: i % 3 ? "agent_message" : "task_started", message: `reply ${i} \ud800 😀 ${"x".repeat(200)}`, turn_id: `t${i}` } })}\n`;
const claudeLines = (n: number) => {
  let s = "";
  for (let t = 0; t < n; t++) {
    s += `${JSON.stringify({ type: "user", promptId: `p${t}`, timestamp: "2026-11-21T12:00:00.000Z", message: { content: `prompt ${t} ${"y".repeat(200)}` } })}\n`;
    s += "not json\n";
    s += `${JSON.stringify({ type: "assistant", timestamp: "2026-11-21T12:00:01.000Z", message: { stop_reason: "end_turn", content: [{ type: "text", text: `done ${t}` }] } })}\n`;
  }
  return s;
};

/** The thread's answer for `job`, once the thread (started by the first ask) is up. */
async function onThread(job: TranscriptChunkJob) {
  for (let i = 0; i < 600; i++) {
    const p = transcriptParser().prepare(job);
    if (p) return p;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the parser thread never came up");
}

describe("transcript parser thread", () => {
  it("returns what the inline parse returns, for Codex and Claude chunks with bad lines, lone surrogates and carried turns", async () => {
    const looks = { previous: { size: 100, at: 1_795_000_000_000 }, current: { size: 10_000_000, at: 1_795_000_100_000 } };
    const codex: TranscriptChunkJob = {
      // The end of a line carried over from the previous read.
      head: enc.encode(codexLine(0).slice(30)),
      bytes: enc.encode(Array.from({ length: 2000 }, (_, i) => codexLine(i)).join("") + "{oops\n"),
      base: 40,
      kind: "codex",
      looks,
      turn: null,
    };
    const claude: TranscriptChunkJob = { head: new Uint8Array(0), bytes: enc.encode(claudeLines(1000)), base: 0, kind: "claude", looks, turn: "p-before" };
    expect(codex.bytes.length).toBeGreaterThan(MIN_OFFLOAD_BYTES);
    expect(claude.bytes.length).toBeGreaterThan(MIN_OFFLOAD_BYTES);
    for (const job of [codex, claude]) {
      const inline = prepareTranscriptChunk(job);
      expect(await onThread(job)).toEqual(inline);
      expect(inline.skipped).toBeGreaterThan(0);
    }
    // A small chunk is not worth a message to the thread.
    expect(transcriptParser().prepare({ ...codex, bytes: enc.encode(codexLine(1)) })).toBeNull();
  });

  it("stores the same rows through ingest whether the thread or the main thread parsed", async () => {
    const rows: unknown[][][] = [];
    for (const useThread of [false, true]) {
      // The same fake clock for both, so ingested_at and the clock bounds match.
      env = await makeTestEnv({ clockAt: Date.UTC(2026, 10, 30) });
      const path = codexRollout(env, "threaded", codexMeta("thread-threaded"));
      const w = await registerSession(env, "worker", { codex_session: path });
      let body = "";
      for (let i = 0; body.length < 9 * 1024 * 1024; i++) body += codexLine(i);
      appendFileSync(path, body);
      const host = env.services.host!;
      let offloaded = 0;
      if (useThread) {
        await onThread({
          head: new Uint8Array(0),
          bytes: enc.encode(body.slice(0, MIN_OFFLOAD_BYTES + 1000)),
          base: 0,
          kind: "codex",
          looks: { previous: null, current: { size: 0, at: 0 } },
          turn: null,
        });
        const prepare = host.prepareTranscriptChunk!.bind(host);
        host.prepareTranscriptChunk = (job) => {
          const p = prepare(job);
          if (p) offloaded++;
          return p;
        };
      } else {
        host.prepareTranscriptChunk = undefined;
      }
      const res = await env.call("POST", `/v1/sessions/${w.session.name}/ingest`);
      expect(res.status).toBe(200);
      if (useThread) expect(offloaded).toBeGreaterThanOrEqual(2);
      const rs = await env.services.database.client.execute(
        "SELECT id, generation, offset, seq, kind, subtype, event_at, text, tool, ingested_at, observed_at, turn_id FROM transcript_events ORDER BY id",
      );
      rows.push(rs.rows.map((r) => Object.values(r)));
      env.close();
      env = undefined;
    }
    expect(rows[0]!.length).toBeGreaterThan(20_000);
    // A lone surrogate is stored as U+FFFD, as a bound parameter stores it (json_each alone would
    // store bytes that are not UTF-8, which the driver cannot even read back).
    expect(rows[0]!.find((r) => String(r[7]).startsWith("reply 1 "))![7]).toBe(`reply 1 \ufffd 😀 ${"x".repeat(200)}`);
    expect(rows[1]).toEqual(rows[0]);
  });

  it("lets a process exit once the thread is up with nothing to do (a CLI ingest that started it)", () => {
    // Node refs a worker again when its first message arrives: a CLI ingest whose one large chunk
    // started the thread (and was parsed inline) then never exited. The child waits until the
    // thread is up, drops its own timer, and must then end by itself; it is killed after 60 s.
    const child = runWithDeadline(
      { thread: "local-runner/transcript-parser.ts" },
      `const p = thread.transcriptParser();
      const job = { head: new Uint8Array(0), bytes: new Uint8Array(${MIN_OFFLOAD_BYTES}), kind: "codex" };
      if (p.prepare(job) !== null) throw new Error("the thread cannot be up yet");
      const started = Date.now();
      const wait = setInterval(() => {
        if (p.ready) { clearInterval(wait); console.log("up"); }
        else if (Date.now() - started > 30000) { clearInterval(wait); console.log("never up"); process.exit(3); }
      }, 20);`,
    );
    expect(child.failure).toBe("");
    expect(child.stdout.trim()).toBe("up");
  }, 90_000);
});
