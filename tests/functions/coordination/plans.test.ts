import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeCursor } from "../../../functions/lib/paging.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

/** Every plan id of `/v1/plans?…&limit=2`, page by page; `between(page)` runs after each page is read. */
async function walk(query: string, between: (page: number) => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | null = null;
  let page = 0;
  do {
    const res = await env.call("GET", `/v1/plans?limit=2${query}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    seen.push(...res.body.plans.map((p: { id: string }) => p.id));
    cursor = res.body.next_cursor;
    await between(page++);
  } while (cursor);
  return seen;
}

describe("GET /v1/plans", () => {
  it("lists each plan once, newest first, though plans change status while the list is walked", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await env.call("POST", "/v1/plans", { body: { title: `plan ${i}`, status: "draft" } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      ids.push(r.body.plan_id);
      env.clock.advance(1);
    }
    const change = (id: string, status: string) => async () => {
      env.clock.advance(1);
      const r = await env.call("POST", `/v1/plans/${id}/status`, { body: { status } });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    };
    // The oldest plan, not listed yet, changes after the first page; a listed one after the second.
    const seen = await walk("&status=all", async (page) => {
      if (page === 0) await change(ids[0]!, "active")();
      if (page === 1) await change(ids[5]!, "done")();
    });
    expect(seen).toEqual([...ids].reverse());
    // A status filter pages the same way.
    expect(await walk("&status=draft", async () => {})).toEqual(ids.slice(1, 5).reverse());
    // A cursor from before, keyed on the last change, is refused rather than read as a creation time.
    const old = encodeCursor([env.clock.ms, ids[3]!], "coordination/plans");
    const refused = await env.call("GET", `/v1/plans?cursor=${old}`);
    expect(refused.status).toBe(400);
    expect(refused.body.error.fields).toEqual([expect.objectContaining({ field: "cursor" })]);
  });
});
