import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCron } from "../../crons/run.ts";
import { makeCtx, type Ctx } from "../../functions/lib/ctx.ts";
import { bindings } from "../../schema/bindings.ts";
import { sessions } from "../../schema/sessions.ts";
import { boundPair, withNewEvents } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv, PINNED_EPOCH } from "../helpers/services.ts";
import { pidHost } from "./pid-host.ts";

let env: TestEnv;
let ctx: Ctx;
beforeEach(async () => {
  env = await makeTestEnv({ host: pidHost([]), clockAt: PINNED_EPOCH });
  ctx = makeCtx(env.services, { kind: "daemon", tokenId: "tok_reconcile_cron" });
});
afterEach(() => env.close());

describe("reconcile cron", () => {
  it("reports drift as of the injected clock and never applies a fix", async () => {
    const p = await boundPair(env);
    await env.services.database.db.update(sessions).set({ pid: 6161, host: "test-host" }).where(eq(sessions.id, p.worker.session_id));
    env.clock.advance(3601);
    const { result: run, events } = await withNewEvents(env, () => runCron(ctx, "reconcile", { runner: "up:test:1", slotKey: "reconcile:s1" }));
    expect(run.state).toBe("succeeded");
    expect(run.report).toMatchObject({
      applied: false,
      checked_at: "2026-11-21T13:00:01.000Z",
      stale_cycles_seconds: 3600,
      actions: [],
      after: null,
      before: { counts: { dead_sessions: 1, dangling_bindings: 0, stuck_tasks: 1, unchecked_sessions: 0 } },
    });
    expect(events).toHaveLength(0);
    const [session] = await env.services.database.db.select().from(sessions).where(eq(sessions.id, p.worker.session_id));
    const [binding] = await env.services.database.db.select().from(bindings).where(eq(bindings.id, p.binding.binding_id));
    expect([session!.state, binding!.state]).toEqual(["active", "active"]);
  });

  it("is not stuck an hour minus a second after binding", async () => {
    await boundPair(env);
    env.clock.advance(3599);
    const run = await runCron(ctx, "reconcile", { runner: "up:test:1" });
    expect(run.report).toMatchObject({ before: { ok: true, stuck_tasks: [] } });
  });
});
