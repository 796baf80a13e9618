import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { brokerEvents } from "../../../schema/broker.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { draftedAdvice } from "./fixtures.ts";
import { startedRun } from "./runs/fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

/** Records n events against one run, job or advice request, as the broker would. */
async function addEvents(owner: { runId?: string; jobId?: string; adviceId?: string }, n: number, kind = "test_event") {
  for (let i = 0; i < n; i++) {
    env.clock.advance(1);
    await env.services.database.db.insert(brokerEvents).values({ ...owner, kind, payload: { i }, createdAt: env.clock.ms });
  }
}

/** Walks a list route page by page from its first page, returning every event id in order. */
async function walk(path: string, limit: number, between?: () => Promise<void>) {
  const ids: number[] = [];
  let cursor: string | null = null;
  do {
    const res = await env.call("GET", `${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.count).toBe(res.body.events.length);
    ids.push(...res.body.events.map((e: any) => e.id));
    cursor = res.body.next_cursor;
    if (between) await between();
    between = undefined;
  } while (cursor);
  return ids;
}

const ascending = (ids: number[]) => [...ids].sort((a, b) => a - b);

describe.each([
  {
    what: "an advice request",
    show: (d: Drafted) => `/v1/broker/advice/${d.adviceId}`,
    list: (d: Drafted) => `/v1/broker/advice/${d.adviceId}/events`,
    key: "adviceId" as const,
  },
  {
    what: "an orchestrator job",
    show: (d: Drafted) => `/v1/orchestrator/jobs/${d.jobId}`,
    list: (d: Drafted) => `/v1/orchestrator/jobs/${d.jobId}/events`,
    key: "jobId" as const,
  },
])("the events of $what", ({ show, list, key }) => {
  it("show embeds only the newest 20, oldest first, with the total; the list pages through all of them", async () => {
    const d = await draftedAdvice(env);
    const own = (await env.call("GET", list(d))).body.count as number;
    await addEvents({ [key]: d[key] }, 30);
    const shown = await env.call("GET", show(d));
    expect(shown.status).toBe(200);
    // Before paging, show returned every event: 30 and more.
    expect(shown.body.events).toHaveLength(20);
    expect(shown.body.events_total).toBe(own + 30);
    const all = await walk(list(d), 7);
    expect(all).toHaveLength(own + 30);
    expect(all).toEqual(ascending(all));
    expect(shown.body.events.map((e: any) => e.id)).toEqual(all.slice(-20));
  });

  it("a walk neither skips nor repeats events recorded meanwhile: they come last", async () => {
    const d = await draftedAdvice(env);
    await addEvents({ [key]: d[key] }, 5);
    const before = await walk(list(d), 2);
    const during = await walk(list(d), 2, () => addEvents({ [key]: d[key] }, 3, "added"));
    expect(during).toEqual([...before, ...during.slice(before.length)]);
    expect(during).toHaveLength(before.length + 3);
    expect(new Set(during).size).toBe(during.length);
  });

  it("refuses a malformed cursor, another list's cursor and a limit over the maximum", async () => {
    const a = await draftedAdvice(env);
    const b = await draftedAdvice(env);
    await addEvents({ [key]: a[key] }, 3);
    const ofA = (await env.call("GET", `${list(a)}?limit=1`)).body.next_cursor;
    expect(ofA).toEqual(expect.any(String));
    for (const path of [`${list(b)}?cursor=${ofA}`, `${list(a)}?cursor=garbage`, `${list(a)}?cursor=${btoa('["x",[1]]')}`]) {
      const res = await env.call("GET", path);
      expect(res.status, path).toBe(400);
      expect(res.body.error).toMatchObject({ code: "VALIDATION_FAILED", hint: expect.stringContaining("next_cursor") });
    }
    const big = await env.call("GET", `${list(a)}?limit=501`);
    expect(big.status).toBe(400);
    expect(big.body.error.code).toBe("VALIDATION_FAILED");
  });

  it("answers 404 for an unknown id; a daemon may read it, a session may not", async () => {
    const d = await draftedAdvice(env);
    const missing = await env.call("GET", list({ adviceId: "adv_nope", jobId: "job_nope" } as Drafted));
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
    expect((await env.call("GET", list(d), { token: await env.mint("daemon") })).status).toBe(200);
    const s = await registerSession(env, "worker");
    expect((await env.call("GET", list(d), { token: s.token })).status).toBe(403);
    expect((await env.call("GET", list(d), { token: null })).status).toBe(401);
  });
});

type Drafted = Awaited<ReturnType<typeof draftedAdvice>>;

describe("GET /v1/broker/runs/{id}/events pages with next_cursor", () => {
  it("pages with the house cursor, keeps after_id working, and refuses both at once", async () => {
    const id = await startedRun(env, { mode: "supervised" });
    await addEvents({ runId: id }, 5);
    const first = await env.call("GET", `/v1/broker/runs/${id}/events?limit=3`);
    expect(first.status).toBe(200);
    // Before, the route answered next_after_id only: next_cursor was missing.
    expect(first.body).toMatchObject({ count: 3, next_cursor: expect.any(String), next_after_id: first.body.events[2].id });
    const second = await env.call("GET", `/v1/broker/runs/${id}/events?limit=3&cursor=${first.body.next_cursor}`);
    const byAfterId = await env.call("GET", `/v1/broker/runs/${id}/events?limit=3&after_id=${first.body.next_after_id}`);
    expect(second.body.events.map((e: any) => e.id)).toEqual(byAfterId.body.events.map((e: any) => e.id));
    expect(second.body).toMatchObject({ count: 3, next_cursor: expect.any(String) });
    const last = await env.call("GET", `/v1/broker/runs/${id}/events?limit=3&cursor=${second.body.next_cursor}`);
    expect(last.body).toMatchObject({ count: 1, next_cursor: null, next_after_id: null });
    const both = await env.call("GET", `/v1/broker/runs/${id}/events?cursor=${first.body.next_cursor}&after_id=1`);
    expect(both.status).toBe(400);
    expect(both.body.error).toMatchObject({ code: "VALIDATION_FAILED", hint: expect.stringContaining("cursor") });
    // An empty cursor is the first page, as on every list, so it does not clash with after_id.
    const empty = await env.call("GET", `/v1/broker/runs/${id}/events?limit=3&cursor=&after_id=${first.body.next_after_id}`);
    expect(empty.status).toBe(200);
    expect(empty.body.events.map((e: any) => e.id)).toEqual(second.body.events.map((e: any) => e.id));
  });

  it("a walk sees events recorded meanwhile once, at the end; another run's cursor is refused", async () => {
    const id = await startedRun(env, { mode: "supervised" });
    const other = await startedRun(env, { mode: "supervised" });
    await addEvents({ runId: id }, 4);
    const before = await walk(`/v1/broker/runs/${id}/events`, 2);
    const during = await walk(`/v1/broker/runs/${id}/events`, 2, () => addEvents({ runId: id }, 3));
    expect(during).toEqual([...before, ...during.slice(before.length)]);
    expect(during).toHaveLength(before.length + 3);
    const ofId = (await env.call("GET", `/v1/broker/runs/${id}/events?limit=1`)).body.next_cursor;
    const res = await env.call("GET", `/v1/broker/runs/${other}/events?cursor=${ofId}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    const s = await registerSession(env, "worker");
    expect((await env.call("GET", `/v1/broker/runs/${id}/events`, { token: s.token })).status).toBe(403);
  });
});
