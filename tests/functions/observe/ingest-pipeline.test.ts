// Ingest reads the next chunk of a transcript while it parses and commits the current one, so
// the disk and the database work at the same time instead of taking turns.
import { appendFileSync, statSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout } from "../../helpers/transcripts.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const line = (text: string) =>
  `${JSON.stringify({ timestamp: "2026-11-21T12:00:00.000Z", type: "event_msg", payload: { type: "user_message", message: text } })}\n`;

/** A worker whose Codex rollout holds a little over 10 MB of 1 kB user messages made of `ch`. */
async function bigRollout(name: string, ch: string) {
  const path = codexRollout(env, name, null);
  writeFileSync(path, "");
  const w = await registerSession(env, "worker", { codex_session: path });
  const block = line(ch.repeat(1000)).repeat(1000);
  let lines = 0;
  while (statSync(path).size <= 10 * 1024 * 1024) {
    appendFileSync(path, block);
    lines += 1000;
  }
  return { path, w, lines };
}

describe("ingest pipelining", () => {
  it("asks the host for each next chunk before the chunk before it is committed, and still stores every line once", async () => {
    const { w, lines } = await bigRollout("piped", "x");
    const host = env.services.host!;
    const read = host.readBytes.bind(host);
    // What the database held each time ingest asked for bytes: the cursor and the stored events.
    const asked: Array<{ offset: number; cursor: number; events: number }> = [];
    host.readBytes = async (p, offset, length) => {
      const rs = await env.services.database.client.execute({
        sql: "SELECT (SELECT c.offset FROM ingest_cursors c JOIN sessions s ON s.id = c.session_id WHERE s.name = ?) AS cursor, (SELECT count(*) FROM transcript_events) AS events",
        args: [w.session.name],
      });
      asked.push({ offset, cursor: Number(rs.rows[0]!.cursor), events: Number(rs.rows[0]!.events) });
      return read(p, offset, length);
    };

    const res = await env.call("POST", `/v1/sessions/${w.session.name}/ingest`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ new_lines: lines, new_events: lines, new_offset: res.body.file_size });

    // Three chunks or more. Ingest asks for chunk i before it has committed chunk i-1: the cursor
    // has not passed the start of chunk i-1 yet (a read after the commit would find it past it).
    expect(asked.length).toBeGreaterThanOrEqual(3);
    expect(asked[0]).toEqual({ offset: 0, cursor: 0, events: 0 });
    expect(asked[1]!.events).toBe(0);
    for (let i = 1; i < asked.length; i++) expect(asked[i]!.cursor).toBeLessThanOrEqual(asked[i - 1]!.offset);
  });

  it("has two chunks read ahead while one commits", async () => {
    const path = codexRollout(env, "ahead", null);
    writeFileSync(path, "");
    const w = await registerSession(env, "worker", { codex_session: path });
    const block = line("y".repeat(1000)).repeat(1000);
    while (statSync(path).size <= 17 * 1024 * 1024) appendFileSync(path, block);
    const host = env.services.host!;
    const read = host.readBytes.bind(host);
    const asked: Array<{ offset: number; cursor: number }> = [];
    host.readBytes = async (p, offset, length) => {
      const rs = await env.services.database.client.execute({
        sql: "SELECT c.offset FROM ingest_cursors c JOIN sessions s ON s.id = c.session_id WHERE s.name = ?",
        args: [w.session.name],
      });
      asked.push({ offset, cursor: Number(rs.rows[0]?.offset ?? 0) });
      return read(p, offset, length);
    };
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/ingest`);
    expect(res.status).toBe(200);
    expect(asked.length).toBeGreaterThanOrEqual(5);
    // Chunk i is asked for before chunk i-2 has committed.
    for (let i = 2; i < asked.length; i++) expect(asked[i]!.cursor).toBeLessThanOrEqual(asked[i - 2]!.offset);
  });

  it("reads on from where a short read ended, not from where the reads queued behind it start", async () => {
    const { w, lines } = await bigRollout("short", "z");
    const host = env.services.host!;
    const read = host.readBytes.bind(host);
    const offsets: number[] = [];
    // The first read comes back short (as when a read(2) stops early), while the next ones were
    // already queued at the offsets a full first chunk would have ended at.
    host.readBytes = async (p, offset, length) => {
      offsets.push(offset);
      const bytes = await read(p, offset, length);
      return offset === 0 ? bytes.subarray(0, 1024 * 1024) : bytes;
    };
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/ingest`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ new_lines: lines, new_events: lines, new_offset: res.body.file_size, skipped_lines: 0 });
    expect(offsets).toContain(1024 * 1024);
    const stored = await env.services.database.client.execute("SELECT count(*) AS n, count(DISTINCT offset) AS d FROM transcript_events");
    expect({ n: Number(stored.rows[0]!.n), d: Number(stored.rows[0]!.d) }).toEqual({ n: lines, d: lines });
  });
});
