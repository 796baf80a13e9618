import { asc, desc } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ApiError } from "../../../functions/lib/errors.ts";
import { decodeCursor, encodeCursor, keysetAfter, pageOf } from "../../../functions/lib/paging.ts";
import { tasks } from "../../../schema/tasks.ts";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

/** Reads every task page by page through the helpers, in the given order. */
async function allPages(limit: number, order: "asc" | "desc") {
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const sort = order === "asc" ? [asc(tasks.createdAt), asc(tasks.id)] : [desc(tasks.createdAt), desc(tasks.id)];
    const rows = await env.services.database.db
      .select()
      .from(tasks)
      .where(keysetAfter([tasks.createdAt, tasks.id], decodeCursor(cursor, 2, "tasks"), order))
      .orderBy(...sort)
      .limit(limit + 1);
    const page = pageOf(rows, limit, (r) => [r.createdAt, r.id], "tasks");
    seen.push(...page.items.map((r) => r.name));
    if (!page.next_cursor) return seen;
    cursor = page.next_cursor;
  }
  throw new Error("paging did not end");
}

describe("keyset paging", () => {
  it("walks every row exactly once in either order, including rows that share a timestamp", async () => {
    const names: string[] = [];
    for (let i = 0; i < 7; i++) {
      names.push((await createTask(env)).task.name);
      if (i % 3 === 2) env.clock.advance(1);
    }
    const byId = (await env.services.database.db.select().from(tasks).orderBy(asc(tasks.createdAt), asc(tasks.id))).map((r) => r.name);
    expect(await allPages(3, "asc")).toEqual(byId);
    expect(await allPages(2, "desc")).toEqual([...byId].reverse());
    expect(await allPages(50, "asc")).toEqual(byId);
    expect(new Set(byId)).toEqual(new Set(names));
  });

  it("round-trips keys with unicode, and refuses a cursor that is not one", () => {
    expect(decodeCursor(encodeCursor([1_700_000_000_000, "tsk_ünï"], "tasks"), 2, "tasks")).toEqual([1_700_000_000_000, "tsk_ünï"]);
    expect(decodeCursor(undefined, 2, "tasks")).toBeNull();
    const untagged = btoa(JSON.stringify([1, "tsk_a"])).replace(/=+$/, "");
    for (const bad of [
      "%%%",
      encodeCursor([1], "tasks"),
      btoa("{}"),
      encodeCursor([1, { x: 1 }] as never, "tasks"),
      untagged,
      encodeCursor([1, "ses_a"], "sessions"),
    ]) {
      const err = (() => {
        try {
          decodeCursor(bad, 2, "tasks");
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).fields?.[0]?.field).toBe("cursor");
    }
  });

  it("keysetAfter refuses keys that do not fit their columns, so every keyset list refuses a forged cursor", async () => {
    expect(keysetAfter([tasks.createdAt, tasks.id], [1, "tsk_a"])).toBeDefined();
    expect(decodeCursor("", 2, "tasks")).toBeNull();
    for (const key of [["x", "y"], [0, 0], [1.5, "tsk_a"], [1e300, "zzzz"], ["5", "tsk_a"], [1]]) {
      expect(() => keysetAfter([tasks.createdAt, tasks.id], key), JSON.stringify(key)).toThrow(ApiError);
    }
    // Over HTTP: the sessions list, whose cursor names its keys by count only.
    await registerSession(env, "worker");
    const forged = encodeCursor(["x", "y"], "sessions/list");
    const res = await env.call("GET", `/v1/sessions?cursor=${forged}`);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "VALIDATION_FAILED", fields: [{ field: "cursor" }] });
  });

  it("refuses a forged key on every list that compares its cursor keys itself (no 500, no silent restart)", async () => {
    const { worker } = await boundPair(env);
    const task = (await createTask(env)).task.name;
    // Each list, its cursor's tag and a key of the right shape with the wrong kind in it.
    const lists: Array<[string, string, unknown[][]]> = [
      ["/v1/telemetry", "telemetry/search", [["x"], [-1], [1.5]]],
      ["/v1/telemetry?search=gs", "telemetry/search", [["x"]]],
      [`/v1/sessions/${worker.session.name}/events`, "observe/tail", [["x"], [1e300]]],
      [`/v1/tasks/${task}/divergences`, "observe/divergences", [["x"]]],
      ["/v1/dashboard/overview", "dashboard/overview", [["x"]]],
      ["/v1/board", "coordination/board", [[7]]],
      [
        `/v1/sessions/${worker.session.name}/inbox`,
        "messages/inbox-list",
        [
          ["x", "y"],
          [1, "y"],
        ],
      ],
      [`/v1/tasks/${task}/mutation-audit`, "supervision/mutation-audit", [["x", "y"]]],
      [
        "/v1/telemetry/failures",
        "telemetry/views",
        [
          ["x", 1],
          [1, "y"],
        ],
      ],
      [`/v1/tasks/${task}/transcript-segments`, "transcripts/segments", [["x"]]],
      ["/v1/blocked-tasks", "convoys/deps", [[7]]],
    ];
    for (const [path, tag, keys] of lists) {
      for (const key of keys) {
        const res = await env.call("GET", `${path}${path.includes("?") ? "&" : "?"}cursor=${encodeCursor(key as never, tag)}`);
        expect(res.status, `${path} ${JSON.stringify(key)}`).toBe(400);
        expect(res.body.error, path).toMatchObject({ code: "VALIDATION_FAILED", fields: [{ field: "cursor" }] });
      }
    }
  });

  it("refuses a cursor of one list on another list's route", async () => {
    const w = await registerSession(env, "worker");
    await registerSession(env, "worker");
    await createTask(env);
    await createTask(env);
    const sessionsPage = await env.call("GET", "/v1/sessions?limit=1");
    const cursor = sessionsPage.body.next_cursor;
    expect(cursor).toEqual(expect.any(String));
    expect((await env.call("GET", `/v1/sessions?limit=1&cursor=${cursor}`)).status).toBe(200);
    for (const path of ["/v1/tasks", "/v1/bindings", "/v1/tokens", "/v1/commands"]) {
      const res = await env.call("GET", `${path}?limit=1&cursor=${cursor}`);
      expect(res.status, path).toBe(400);
      expect(res.body.error.fields[0].field).toBe("cursor");
    }
    expect((await env.call("GET", `/v1/sessions/${w.session.name}/inbox?cursor=${cursor}`, { token: w.token })).status).toBe(400);
  });
});
