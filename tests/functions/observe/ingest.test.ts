import { appendFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { registerSession } from "../../helpers/factories.ts";
import { codexRollout } from "../../helpers/transcripts.ts";
import { applySkewEvidence, SKEW_TOLERANCE_MS } from "../../../functions/observe/clock-skew.ts";
import { SKEW_AFTER_EVIDENCE } from "../../../functions/observe/ingest.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const line = (type: string, payload: Record<string, unknown>) => `${JSON.stringify({ timestamp: "2026-11-21T12:00:00.000Z", type, payload })}\n`;
const userMsg = (text: string) => line("event_msg", { type: "user_message", message: text });
const started = () => line("event_msg", { type: "task_started" });
const done = (text = "done") => line("event_msg", { type: "task_complete", last_agent_message: text });

/**
 * Registers a worker for `path` while the file is still empty (registration checks that a
 * non-empty file starts like a Codex rollout; these tests write bare event lines), then writes
 * `content` to it.
 */
async function worker(path: string, content = "") {
  writeFileSync(path, "");
  const w = await registerSession(env, "worker", { codex_session: path });
  if (content) writeFileSync(path, content);
  return w.session.name;
}

async function ingest(name: string) {
  const res = await env.call("POST", `/v1/sessions/${name}/ingest`);
  expect(res.status).toBe(200);
  return res.body;
}

async function events(name: string) {
  const res = await env.call("GET", `/v1/sessions/${name}/events?limit=1000&include_content=true`);
  return res.body.events.slice().reverse() as Array<{ kind: string; subtype: string; text: string | null; offset: number; generation: number }>;
}

describe("ingest", () => {
  it("reads a 0-byte file without error and picks up lines appended later", async () => {
    const path = codexRollout(env, "empty", null);
    const name = await worker(path, "");
    const first = await ingest(name);
    expect(first).toMatchObject({ new_events: 0, new_offset: 0, file_size: 0, skipped_lines: 0 });
    appendFileSync(path, userMsg("hello") + started());
    const second = await ingest(name);
    expect(second.new_events).toBe(2);
    expect((await events(name)).map((e) => e.kind)).toEqual(["user_message", "task_started"]);
  });

  it("leaves a partial last line for the next ingest", async () => {
    const path = codexRollout(env, "partial", null);
    const full = done("all finished");
    const name = await worker(path, userMsg("go") + full.slice(0, 25));
    const first = await ingest(name);
    expect(first.new_events).toBe(1);
    expect(first.partial_line_bytes).toBe(25);
    appendFileSync(path, full.slice(25));
    const second = await ingest(name);
    expect(second.new_events).toBe(1);
    expect(second.partial_line_bytes).toBe(0);
    const evs = await events(name);
    expect(evs.map((e) => e.kind)).toEqual(["user_message", "task_complete"]);
    expect(evs[1]!.text).toBe("all finished");
  });

  it("counts malformed lines in skipped_lines with a warning and keeps going", async () => {
    const path = codexRollout(env, "bad", null);
    const name = await worker(path, `${userMsg("a")}{not json\n[1,2]\n${done()}`);
    const r = await ingest(name);
    expect(r.skipped_lines).toBe(2);
    expect(r.new_lines).toBe(4);
    expect(r.warnings.join(" ")).toMatch(/malformed line at byte/);
    expect((await events(name)).map((e) => e.kind)).toEqual(["user_message", "task_complete"]);
  });

  it("is idempotent: a second ingest with no new bytes adds nothing", async () => {
    const path = codexRollout(env, "idem", null);
    const name = await worker(path, userMsg("a") + done());
    await ingest(name);
    const again = await ingest(name);
    expect(again.new_events).toBe(0);
    expect(await events(name)).toHaveLength(2);
  });

  it("detects truncation and re-reads from byte 0 under a new generation", async () => {
    const path = codexRollout(env, "trunc", null);
    const name = await worker(path, userMsg("one") + userMsg("two") + done());
    await ingest(name);
    truncateSync(path, 0);
    appendFileSync(path, userMsg("fresh"));
    const r = await ingest(name);
    expect(r.truncated).toBe(true);
    expect(r.generation).toBe(2);
    expect(r.new_events).toBe(1);
    const evs = await events(name);
    expect(evs.at(-1)).toMatchObject({ text: "fresh", generation: 2, offset: 0 });
  });

  it("detects replacement of the file (new inode) even when it is larger", async () => {
    const path = codexRollout(env, "rot", null);
    const name = await worker(path, userMsg("old"));
    await ingest(name);
    const next = `${path}.next`;
    writeFileSync(next, userMsg("new 1") + userMsg("new 2") + done());
    renameSync(next, path);
    const r = await ingest(name);
    expect(r.rotated).toBe(true);
    expect(r.new_events).toBe(3);
    expect(r.warnings.join(" ")).toMatch(/replaced/);
  });

  it("reassembles a multi-byte character split across read chunks", async () => {
    const path = codexRollout(env, "unicode", null);
    // Push a 4-byte emoji across the 4 MiB read boundary.
    const filler = "x".repeat(4 * 1024 * 1024 - 60);
    const text = `${filler}🚀 après 日本`;
    const name = await worker(path, userMsg(text) + done("fin 🚀"));
    const r = await ingest(name);
    expect(r.skipped_lines).toBe(0);
    expect(r.new_events).toBe(2);
    const evs = await events(name);
    expect(evs[1]!.text).toBe("fin 🚀");
  });

  it("ingests a 50 MB file completely and exactly once", async () => {
    const path = codexRollout(env, "big", null);
    const chunk = (userMsg("u".repeat(400)) + line("event_msg", { type: "token_count", info: { n: 1 } }) + done("d".repeat(300))).repeat(1000);
    let lines = 0;
    const name = await worker(path);
    while (statSync(path).size <= 50 * 1024 * 1024) {
      appendFileSync(path, chunk);
      lines += 3000;
    }
    const r = await ingest(name);
    expect(r.file_size).toBeGreaterThan(50 * 1024 * 1024);
    expect(r.new_lines).toBe(lines);
    expect(r.new_events).toBe(lines);
    expect(r.new_offset).toBe(r.file_size);
    const counted = await env.services.database.client.execute("SELECT count(*) AS n FROM transcript_events");
    expect(Number(counted.rows[0]!.n)).toBe(lines);
  });

  it("concurrent ingests of one session store each event once and count each line once", async () => {
    const path = codexRollout(env, "race", null);
    const name = await worker(path, (userMsg("a") + started() + done()).repeat(200));
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => env.call("POST", `/v1/sessions/${name}/ingest`)));
    for (const r of [a, b, c]) expect([200, 409]).toContain(r!.status);
    await ingest(name);
    const counted = await env.services.database.client.execute("SELECT count(*) AS n FROM transcript_events");
    expect(Number(counted.rows[0]!.n)).toBe(600);
    const cursor = await env.services.database.client.execute("SELECT lines_total, generation FROM ingest_cursors");
    expect(cursor.rows[0]).toMatchObject({ lines_total: 600, generation: 1 });
  });

  it("an ingest whose look at the file predates another ingest's advance does not take growth for truncation", async () => {
    const path = codexRollout(env, "stale-look", null);
    const name = await worker(path, (userMsg("a") + done()).repeat(5));
    await ingest(name);
    appendFileSync(path, userMsg("b"));
    const host = env.services.host!;
    const fileInfo = host.fileInfo.bind(host);
    let raced = false;
    // The first ingest's look sees the file as it is; before that ingest goes on, the file grows
    // and a second ingest (another server, say) takes all of it and advances the cursor.
    host.fileInfo = async (p: string) => {
      const seen = await fileInfo(p);
      if (!raced) {
        raced = true;
        appendFileSync(path, userMsg("c") + done());
        await ingest(name);
      }
      return seen;
    };
    const first = await env.call("POST", `/v1/sessions/${name}/ingest`);
    expect([200, 409]).toContain(first.status);
    expect(first.body.truncated ?? false).toBe(false);
    host.fileInfo = fileInfo;
    await ingest(name);
    const counted = await env.services.database.client.execute("SELECT count(*) AS n, max(generation) AS g FROM transcript_events");
    expect(counted.rows[0]).toMatchObject({ n: 13, g: 1 });
  });

  it("keeps the ingest totals the telemetry views read equal to a recount of every cursor", async () => {
    const clean = await worker(codexRollout(env, "clean", null), `${userMsg("a")}${done()}`);
    const bad = await worker(codexRollout(env, "bad-totals", null), `${userMsg("a")}{not json\n`);
    await ingest(clean);
    await ingest(bad);
    appendFileSync(codexRollout(env, "bad-totals", null), `[1]\n${done()}`);
    await ingest(bad);
    const recount = (
      await env.services.database.client.execute(
        "SELECT count(*) AS sessions, sum(lines_total) AS lines, sum(skipped_total) AS skipped, sum(skipped_total > 0) AS skipping FROM ingest_cursors",
      )
    ).rows[0]!;
    expect({ sessions: Number(recount.sessions), lines: Number(recount.lines), skipped: Number(recount.skipped), skipping: Number(recount.skipping) }).toEqual({
      sessions: 2,
      lines: 6,
      skipped: 2,
      skipping: 1,
    });
    const metrics = (await env.call("GET", "/v1/telemetry/metrics")).body;
    expect(metrics.ingest).toMatchObject({ sessions: 2, lines_total: 6, skipped_lines: 2 });
    const failures = (await env.call("GET", "/v1/telemetry/failures")).body;
    expect(failures.counts).toMatchObject({ ingest_skipped_lines: 2, ingest_sessions_with_skipped_lines: 1 });
  });

  it("never quotes a skipped line in its warnings", async () => {
    const path = codexRollout(env, "secret", null);
    const name = await worker(path, `${userMsg("a")}root:x:0:0:TOPSECRET-hash\n"TOPSECRET string"\n`);
    const r = await ingest(name);
    expect(r.skipped_lines).toBe(2);
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings.join(" ")).toMatch(/byte \d+/);
    expect(JSON.stringify(r)).not.toMatch(/TOPSECRET|root:x/);
  });

  it("refuses to read a registered path that is not under the transcript roots, telling a session nothing more", async () => {
    const path = codexRollout(env, "moved", "");
    const w = await registerSession(env, "worker", { codex_session: path });
    // As if registered through a server that could not check it (or the row was edited since).
    await env.services.database.client.execute({ sql: "UPDATE sessions SET transcript_path = '/etc/passwd' WHERE id = ?", args: [w.session_id] });
    const asOwner = await env.call("POST", `/v1/sessions/${w.session.name}/ingest`);
    expect(asOwner.status).toBe(422);
    expect(asOwner.body.error.code).toBe("PATH_NOT_ALLOWED");
    const asSession = await env.call("POST", `/v1/sessions/${w.session.name}/ingest`, { token: w.token });
    const missing = await registerSession(env, "worker", { codex_session: codexRollout(env, "vanishing", "") });
    rmSync(codexRollout(env, "vanishing", null));
    const asMissing = await env.call("POST", `/v1/sessions/${missing.session.name}/ingest`, { token: missing.token });
    // Forbidden and missing look the same to a session.
    expect([asSession.status, asSession.body.error.code]).toEqual([422, "PATH_NOT_FOUND"]);
    expect([asMissing.status, asMissing.body.error.code]).toEqual([422, "PATH_NOT_FOUND"]);
    expect(asSession.body.error.message.replace(w.session.name, "X")).toBe(asMissing.body.error.message.replace(missing.session.name, "X"));
    const events = await env.services.database.client.execute("SELECT count(*) AS n FROM transcript_events");
    expect(Number(events.rows[0]!.n)).toBe(0);
  });

  it("reports a missing transcript as PATH_NOT_FOUND", async () => {
    const path = codexRollout(env, "gone", null);
    const name = await worker(path, userMsg("a"));
    rmSync(path);
    const res = await env.call("POST", `/v1/sessions/${name}/ingest`);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("PATH_NOT_FOUND");
  });
});

describe("a chunk whose cursor moved under it", () => {
  it("stores none of its events when another ingest reset the cursor to a new generation meanwhile", async () => {
    const path = codexRollout(env, "raced", null);
    const name = await worker(path, started() + userMsg("hello") + done());
    const host = env.services.host!;
    const read = host.readBytes.bind(host);
    // Between this ingest's read of the cursor and its commit, another ingest saw the file
    // replaced and started it over under generation 2.
    host.readBytes = async (p, offset, length) => {
      await env.services.database.client.execute({
        sql: "UPDATE ingest_cursors SET generation = generation + 1, offset = 0, identity = 'other' WHERE session_id = (SELECT id FROM sessions WHERE name = ?)",
        args: [name],
      });
      return read(p, offset, length);
    };
    const report = await ingest(name);
    expect(report).toMatchObject({ new_lines: 0, new_events: 0, new_offset: 0 });
    expect(report.warnings.join(" ")).toMatch(/another ingest advanced/);
    const rs = await env.services.database.client.execute("SELECT count(*) AS n FROM transcript_events");
    expect(Number(rs.rows[0]!.n)).toBe(0);
    const cursor = await env.services.database.client.execute("SELECT generation, offset FROM ingest_cursors");
    expect(cursor.rows[0]).toMatchObject({ generation: 2, offset: 0 });
  });
});

describe("the skew update in SQL", () => {
  it("agrees with applySkewEvidence for agreeing, disagreeing, one-sided and contradictory evidence", async () => {
    const T = SKEW_TOLERANCE_MS;
    const olds = [0, 5_000, -600_000, 600_000, 3 * T];
    const bounds = [Number.NEGATIVE_INFINITY, -10 * T, -T, -1, 0, 1_000, T + 1, 10 * T, Number.POSITIVE_INFINITY];
    let checked = 0;
    for (const old of olds) {
      for (const atLeast of bounds) {
        for (const atMost of bounds) {
          if (atLeast === Number.POSITIVE_INFINITY || atMost === Number.NEGATIVE_INFINITY) continue;
          const finite = (n: number) => (Number.isFinite(n) ? n : null);
          const args = [old, ...Array(9).fill(null), finite(atLeast), finite(atMost), T];
          const rs = await env.services.database.client.execute({ sql: `SELECT ${SKEW_AFTER_EVIDENCE.replaceAll("clock_skew_ms", "?1")}`, args });
          expect(Number(rs.rows[0]![0]), `old ${old}, at least ${atLeast}, at most ${atMost}`).toBe(applySkewEvidence(old, { atLeast, atMost }));
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
  });
});
