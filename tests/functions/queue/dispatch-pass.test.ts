import { describe, expect, it } from "vitest";
import { createCommand } from "../../../functions/queue/store.ts";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { commandRow, ownerCtx, recordingQueue } from "./helpers.ts";

const q = recordingQueue({ hostName: "host-a" });

const dispatcherRow = async (id: string) =>
  (await q.env.services.database.client.execute({ sql: "SELECT * FROM dispatchers WHERE id = ?", args: [id] })).rows[0] as unknown as Record<string, any>;

describe("dispatchPass", () => {
  it("executes due commands, host commands only for its own host, and heartbeats", async () => {
    const ctx = ownerCtx(q.env);
    const local = await createCommand(ctx, { type: "nudge", host: "host-a", payload: { n: 1 } });
    const remote = await createCommand(ctx, { type: "nudge", host: "host-b", payload: { n: 2 } });
    const routed = await createCommand(ctx, { type: "notify_manager", payload: { n: 3 } });
    const report = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "d1", pid: 42 });
    expect(report).toMatchObject({ dispatcher_id: "d1", iteration: 1, host: "host-a", claimed: 2, succeeded: 2, dry_run: false });
    expect(report.routing).toMatchObject({ bindings: 0, routed: 0 });
    expect(q.runs.map((r) => r.id).sort()).toEqual([local.id, routed.id].sort());
    expect((await commandRow(q.env, remote.id)).state).toBe("pending");
    expect(await dispatcherRow("d1")).toMatchObject({ state: "running", host: "host-a", pid: 42, iteration: 1, processed: 2 });
    await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "d1", pid: 42 });
    const row = await dispatcherRow("d1");
    expect(row).toMatchObject({ iteration: 2, processed: 2 });
    expect(JSON.parse(row.last_report_json)).toMatchObject({ dispatcher_id: "d1", claimed: 0 });
  });

  it("recovers expired leases at the start of a pass", async () => {
    const ctx = ownerCtx(q.env);
    const c = await createCommand(ctx, { type: "notify_manager", payload: { n: 1 }, maxAttempts: 3 });
    await q.env.services.database.client.execute({
      sql: "UPDATE commands SET state = 'running', claim_generation = 1, attempts = 1, lease_expires_at = ? WHERE id = ?",
      args: [q.env.clock.ms - 1, c.id],
    });
    const report = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "d1" });
    expect(report.expired).toEqual({ ambiguous: [], pending: [c.id], dead: [] });
    expect(report.succeeded).toBe(1);
    expect(await commandRow(q.env, c.id)).toMatchObject({ state: "succeeded", claim_generation: 2 });
  });

  it("only runs the requested types, and routes completions only when asked", async () => {
    const ctx = ownerCtx(q.env);
    const nudge = await createCommand(ctx, { type: "nudge", host: "host-a", payload: { n: 1 } });
    await createCommand(ctx, { type: "notify_manager", payload: { n: 2 } });
    const report = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "d1", types: ["nudge"], route: false });
    expect(report.types).toEqual(["nudge"]);
    expect(report.routing).toBeNull();
    expect(q.runs.map((r) => r.id)).toEqual([nudge.id]);
  });

  it("a dry run reports what would run, flags invalid payloads and changes nothing", async () => {
    const ctx = ownerCtx(q.env);
    const good = await createCommand(ctx, { type: "notify_manager", payload: { n: 1 } });
    const bad = await createCommand(ctx, { type: "notify_manager", payload: { n: "x" } });
    const report = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: "dry", dryRun: true });
    expect(report.would_run.map((w) => [w.command_id, w.valid_payload])).toEqual([
      [good.id, true],
      [bad.id, false],
    ]);
    expect(report.claimed).toBe(0);
    expect(q.runs).toEqual([]);
    expect((await commandRow(q.env, good.id)).state).toBe("pending");
    expect(await dispatcherRow("dry")).toMatchObject({ dry_run: 1, processed: 0 });
  });
});
