import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { planTrigramMatch, trigramPhrase } from "../../../functions/discover/substring.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { createTask, deregister, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

/** What the plain FTS5 phrase finds (the search discover ran before plans existed), newest first. */
async function phraseAnswer(table: "sessions" | "tasks", q: string, opts: { all?: boolean; limit?: number } = {}): Promise<string[]> {
  const live = opts.all ? "" : " AND t.state = 'active'";
  const rs = await env.services.database.client.execute({
    sql: `SELECT t.name FROM ${table}_fts AS f JOIN ${table} AS t ON t.rowid = f.rowid WHERE ${table}_fts MATCH ? ${live} ORDER BY f.rowid DESC LIMIT ?`,
    args: [trigramPhrase(q), opts.limit ?? 500],
  });
  return rs.rows.map((r) => String(r.name));
}

async function discovered(q: string, opts: { all?: boolean; limit?: number; token?: string } = {}) {
  const params = new URLSearchParams({ q, limit: String(opts.limit ?? 500), ...(opts.all ? { all: "true" } : {}) });
  const res = await env.call("GET", `/v1/discover?${params}`, { token: opts.token });
  expect(res.status).toBe(200);
  return { sessions: res.body.sessions.map((s: any) => s.name) as string[], tasks: res.body.tasks.map((t: any) => t.name) as string[] };
}

/**
 * A fleet whose names and goals share one long prefix (so its trigrams are common and a query's
 * rare part drives the search), with titles and goals that only case folding makes match.
 */
async function seedFleet() {
  for (let i = 0; i < 24; i++) {
    await registerSession(env, "worker", { name: `fleet-node-${String(i).padStart(3, "0")}`, thread_title: `fleet-node routine ${i}` });
    await createTask(env, { name: `fleet-task-${i}`, goal: `fleet-node upkeep ${i}` });
    env.clock.advance(1);
  }
  await registerSession(env, "worker", { name: "fleet-node-long-s", thread_title: "fleet-node-\u017Fpecial (long s)" });
  await registerSession(env, "worker", { name: "fleet-node-upper", thread_title: "FLEET-NODE-SPECIAL in capitals" });
  await registerSession(env, "worker", { name: "fleet-node-kelvin", thread_title: "fleet-node-\u212Aey (kelvin sign)" });
  await registerSession(env, "worker", { name: "fleet-node-plain", thread_title: "fleet-node-special" });
  await registerSession(env, "worker", { name: "fleet-node-accent", thread_title: "fleet-node-sp\u00E9cial (not a match)" });
  // Decoys: they hold the rare part of the queries below but not the whole query.
  await registerSession(env, "worker", { name: "decoy", thread_title: "fleet-node aside, a hole-special and a key-017" });
  await createTask(env, { name: "decoy-task", goal: "fleet-node aside, a hole-special" });
  await createTask(env, { name: "fleet-task-upper", goal: "FLEET-NODE-SPECIAL goal" });
  await createTask(env, { name: "fleet-task-long-s", goal: "fleet-node-\u017Fpecial goal" });
  await createTask(env, { name: "fleet-task-plain", goal: "fleet-node-special goal", summary: "done" });
}

describe("discover's substring search driven by the query's rare part", () => {
  it("finds exactly what the FTS5 phrase finds, newest first, including matches only case folding makes", async () => {
    await seedFleet();
    const ctx = makeCtx(env.services, { kind: "owner", tokenId: "tok_test" });
    for (const q of ["fleet-node-special", "FLEET-node-Spec", "fleet-node-key", "node-special in capitals", "fleet-node-017"]) {
      const plan = await planTrigramMatch(ctx, q, ["tasks", "sessions"]);
      // The queries hold the fleet's common trigrams, so the driven search (not the phrase) runs.
      expect(plan.sessions.kind, q).toBe("driven");
      const got = await discovered(q, { all: true });
      expect(got.sessions, q).toEqual(await phraseAnswer("sessions", q, { all: true }));
      expect(got.tasks, q).toEqual(await phraseAnswer("tasks", q, { all: true }));
    }
    // The answers themselves, not only agreement: LONG S and KELVIN SIGN fold onto s and k, é does not.
    expect((await discovered("fleet-node-special", { all: true })).sessions).toEqual(["fleet-node-plain", "fleet-node-upper", "fleet-node-long-s"]);
    expect((await discovered("fleet-node-key", { all: true })).sessions).toEqual(["fleet-node-kelvin"]);
    expect((await discovered("fleet-node-special")).tasks).toEqual(["fleet-task-plain", "fleet-task-long-s", "fleet-task-upper"]);
  });

  it("keeps the limit, the order and the live-only filter of the phrase", async () => {
    await seedFleet();
    await deregister(env, "fleet-node-upper");
    for (const [q, opts] of [
      ["fleet-node-special", { limit: 2, all: true }],
      ["fleet-node-special", {}],
      ["fleet-node-0", { limit: 5 }],
      ["fleet-node-01", { limit: 3, all: true }],
    ] as const) {
      const got = await discovered(q, opts);
      expect(got.sessions, `${q} ${JSON.stringify(opts)}`).toEqual(await phraseAnswer("sessions", q, opts));
      expect(got.tasks, `${q} ${JSON.stringify(opts)}`).toEqual(await phraseAnswer("tasks", q, opts));
    }
    expect((await discovered("fleet-node-special")).sessions).toEqual(["fleet-node-plain", "fleet-node-long-s"]);
    expect((await discovered("fleet-node-special", { limit: 2, all: true })).sessions).toEqual(["fleet-node-plain", "fleet-node-upper"]);
  });

  it("leaves a query outside ASCII, and a short one, to the phrase", async () => {
    await seedFleet();
    const ctx = makeCtx(env.services, { kind: "owner", tokenId: "tok_test" });
    for (const q of ["fleet-node-\u017Fpecial", "fleet-node-sp\u00E9cial", "node"]) {
      expect((await planTrigramMatch(ctx, q, ["sessions"])).sessions).toEqual({ kind: "phrase", match: trigramPhrase(q) });
      expect((await discovered(q, { all: true })).sessions, q).toEqual(await phraseAnswer("sessions", q, { all: true }));
    }
    expect((await discovered("fleet-node-sp\u00E9cial", { all: true })).sessions).toEqual(["fleet-node-accent"]);
  });

  it("still matches another session only on what the caller may see of it", async () => {
    await seedFleet();
    const me = await registerSession(env, "worker", { name: "watcher", cwd: "/tmp" });
    await registerSession(env, "worker", { name: "hidden-one", cwd: "/srv/fleet-node-special-place" });
    // The owner sees the cwd match; the session caller sees only the title matches it may see.
    expect((await discovered("fleet-node-special-place", { all: true })).sessions).toEqual(["hidden-one"]);
    expect((await discovered("fleet-node-special-place", { all: true, token: me.token })).sessions).toEqual([]);
    expect((await discovered("fleet-node-special", { all: true, token: me.token })).sessions).toEqual(
      expect.arrayContaining(["fleet-node-plain", "fleet-node-upper"]),
    );
  });

  it("refuses a query with a control character (SQLite's phrase parser stops at a NUL) instead of a 500", async () => {
    for (const q of ["ab\u0000", "\u0000abc", "abc\u0000def", "a\u001bb"]) {
      const res = await env.call("GET", `/v1/discover?q=${encodeURIComponent(q)}`);
      expect(res.status, JSON.stringify(q)).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
    }
  });

  it("lets no hidden match use up the page: the limit cannot tell whether a hidden cwd holds the query", async () => {
    const me = await registerSession(env, "worker", { name: "watcher", cwd: "/tmp" });
    await registerSession(env, "worker", { name: "payments-bot", cwd: "/srv/bot" });
    const before = await discovered("payments", { all: true, token: me.token, limit: 1 });
    expect(before.sessions).toEqual(["payments-bot"]);
    // A newer session whose hidden cwd holds the query changes nothing for this caller.
    await registerSession(env, "worker", { name: "zz-other", cwd: "/home/alice/payments-secret" });
    expect((await discovered("payments", { all: true, token: me.token, limit: 1 })).sessions).toEqual(["payments-bot"]);
    // A session it may see is still found by its cwd.
    await registerSession(env, "worker", { name: "zz-self-check", cwd: "/tmp" });
    expect((await discovered("watcher", { all: true, token: me.token })).sessions).toEqual(["watcher"]);
    expect((await discovered("/tmp", { all: true, token: me.token })).sessions).toEqual(["watcher"]);
    expect((await discovered("payments", { all: true, limit: 5 })).sessions.sort()).toEqual(["payments-bot", "zz-other"]);
  });

  it("relies on a tokenizer that folds no code point but KELVIN SIGN and LONG S onto ASCII", async () => {
    // The confirmation repeats the trigram tokenizer's case folding in SQL for ASCII queries; this
    // walks every code point with case mappings (the BMP and the supplementary letters) through
    // the tokenizer itself, so a libSQL whose folding differs fails here.
    const c = env.services.database.client;
    await c.execute("CREATE VIRTUAL TABLE fold_probe USING fts5(x, tokenize='trigram')");
    await c.execute(
      "WITH RECURSIVE cp(x) AS (SELECT 128 UNION ALL SELECT x + 1 FROM cp WHERE x < 131071) INSERT INTO fold_probe(rowid, x) SELECT x, 'q' || char(x) || 'q' FROM cp WHERE x NOT BETWEEN 55296 AND 57343",
    );
    const folds: string[] = [];
    for (let a = 1; a < 128; a++) {
      const ch = String.fromCharCode(a);
      const rs = await c.execute({ sql: "SELECT rowid FROM fold_probe WHERE fold_probe MATCH ?", args: [trigramPhrase(`q${ch}q`)] });
      for (const r of rs.rows) folds.push(`${ch}<-U+${Number(r.rowid).toString(16).toUpperCase()}`);
    }
    expect(folds.sort()).toEqual(["K<-U+212A", "S<-U+17F", "k<-U+212A", "s<-U+17F"]);
  }, 60_000);
});
