import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EXECUTORS } from "../../../functions/executors.ts";
import { claimNext, sweepAndClaim } from "../../../functions/queue/claim.ts";
import { runClaims } from "../../../functions/queue/run.ts";
import { createCommand, dbClaimPort } from "../../../functions/queue/store.ts";
import { boundPair } from "../../helpers/factories.ts";
import { roundTrips } from "../../helpers/db-clients.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { attemptRows, commandRow, ownerCtx } from "./helpers.ts";

/*
 * A database-only effect (notify_manager puts an item in the manager's inbox) commits in one batch
 * with its command's outcome, fenced by the claim: all of it or none of it.
 */
const tally = roundTrips();
let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv({ roundTrips: tally });
});
afterEach(() => env.close());

const scope = { types: ["notify_manager"] as const, host: null, leaseMs: 60_000, limit: 1 };
const itemsFor = async (commandId: string) =>
  (await env.services.database.client.execute({ sql: "SELECT id FROM inbox_items WHERE dedup_key = ?", args: [`notify_manager:${commandId}`] })).rows;

async function notifyCommand() {
  const pair = await boundPair(env);
  return createCommand(ownerCtx(env), { type: "notify_manager", taskId: pair.task.task_id, payload: { message: "done" } });
}

describe("database-only effects commit with their outcome", () => {
  it("delivers the item, records the attempt started and completed, in one read and one batch", async () => {
    const cmd = await notifyCommand();
    const ctx = ownerCtx(env);
    const [claim] = await claimNext(ctx, { ...scope, types: [...scope.types], dispatcherId: "d1" });
    tally.reset();
    const [report] = await runClaims(ctx, [claim!], (c) => EXECUTORS[c.command.type]!, dbClaimPort(ctx, { queue: {} }));
    expect(report).toMatchObject({ state: "succeeded", side_effect_started: true, error: null });
    expect(tally.log).toEqual([expect.stringMatching(/^select/), expect.stringMatching(/^batch/)]);
    expect(await itemsFor(cmd.id)).toHaveLength(1);
    expect((await commandRow(env, cmd.id)).state).toBe("succeeded");
    expect(await attemptRows(env, cmd.id)).toEqual([expect.objectContaining({ side_effect_started: 1, side_effect_completed: 1, claim_generation: 1 })]);
  });

  it("commits none of the effect under a stale claim, and the newer claim delivers exactly once", async () => {
    const cmd = await notifyCommand();
    const ctx = ownerCtx(env);
    const [stale] = await claimNext(ctx, { ...scope, types: [...scope.types], dispatcherId: "slow" });
    // The lease runs out and another dispatcher takes the command (generation 2).
    env.clock.advance(120);
    const { claims } = await sweepAndClaim(ctx, { ...scope, types: [...scope.types], dispatcherId: "fast" });
    expect(claims.map((c) => c.generation)).toEqual([2]);
    const [late] = await runClaims(ctx, [stale!], (c) => EXECUTORS[c.command.type]!, dbClaimPort(ctx, { queue: {} }));
    expect(late).toMatchObject({ state: "lost", side_effect_started: false });
    expect(await itemsFor(cmd.id)).toHaveLength(0);
    const [fresh] = await runClaims(ctx, claims, (c) => EXECUTORS[c.command.type]!, dbClaimPort(ctx, { queue: {} }));
    expect(fresh).toMatchObject({ state: "succeeded" });
    expect(await itemsFor(cmd.id)).toHaveLength(1);
    const attempts = await attemptRows(env, cmd.id);
    expect(attempts.map((a) => [a.claim_generation, a.side_effect_started, a.side_effect_completed])).toEqual([
      [1, 0, 0],
      [2, 1, 1],
    ]);
  });

  it("a retry whose item already exists falls back to run and answers with that item", async () => {
    const cmd = await notifyCommand();
    const ctx = ownerCtx(env);
    const [first] = await claimNext(ctx, { ...scope, types: [...scope.types], dispatcherId: "d1" });
    await runClaims(ctx, [first!], (c) => EXECUTORS[c.command.type]!, dbClaimPort(ctx, { queue: {} }));
    const [item] = await itemsFor(cmd.id);
    await env.services.database.client.execute({ sql: "UPDATE commands SET state = 'pending' WHERE id = ?", args: [cmd.id] });
    const [again] = await claimNext(ctx, { ...scope, types: [...scope.types], dispatcherId: "d2" });
    const [report] = await runClaims(ctx, [again!], (c) => EXECUTORS[c.command.type]!, dbClaimPort(ctx, { queue: {} }));
    expect(report).toMatchObject({ state: "succeeded" });
    expect((await commandRow(env, cmd.id)).result_json).toContain(`"inbox_item_id":"${item!.id}"`);
    expect(await itemsFor(cmd.id)).toHaveLength(1);
  });

  it("a run of them commits in one batch: every item delivered once, every attempt started and completed", async () => {
    const pair = await boundPair(env);
    const ctx = ownerCtx(env);
    const cmds = [];
    for (let i = 0; i < 3; i++) cmds.push(await createCommand(ctx, { type: "notify_manager", taskId: pair.task.task_id, payload: { message: `m${i}` } }));
    const claims = await claimNext(ctx, { ...scope, types: [...scope.types], dispatcherId: "d1", limit: 3 });
    tally.reset();
    const reports = await runClaims(ctx, claims, (c) => EXECUTORS[c.command.type]!, dbClaimPort(ctx, { queue: {} }));
    expect(reports.map((r) => [r.command_id, r.state])).toEqual(cmds.map((c) => [c.id, "succeeded"]));
    // Each effect's reads, then one write for all three outcomes and effects.
    expect(tally.log.filter((l) => l.startsWith("batch"))).toHaveLength(1);
    expect(tally.log.at(-1)).toMatch(/^batch/);
    for (const c of cmds) {
      expect(await itemsFor(c.id)).toHaveLength(1);
      expect(await attemptRows(env, c.id)).toEqual([expect.objectContaining({ side_effect_started: 1, side_effect_completed: 1, claim_generation: 1 })]);
      expect(JSON.parse((await commandRow(env, c.id)).result_json)).toMatchObject({ created: true, inbox_item_id: expect.any(String) });
    }
  });

  it("one stale claim in a run: its batch commits nothing, the others then commit one by one and the stale one is lost", async () => {
    const pair = await boundPair(env);
    const ctx = ownerCtx(env);
    const cmds = [];
    for (let i = 0; i < 3; i++) cmds.push(await createCommand(ctx, { type: "notify_manager", taskId: pair.task.task_id, payload: { message: `m${i}` } }));
    const claims = await claimNext(ctx, { ...scope, types: [...scope.types], dispatcherId: "slow", limit: 3 });
    // The middle command's claim goes stale: another claimer holds generation 2.
    await env.services.database.client.execute({
      sql: "UPDATE commands SET claim_generation = claim_generation + 1, claimed_by = 'fast' WHERE id = ?",
      args: [cmds[1]!.id],
    });
    const reports = await runClaims(ctx, claims, (c) => EXECUTORS[c.command.type]!, dbClaimPort(ctx, { queue: {} }));
    expect(reports.map((r) => [r.command_id, r.state])).toEqual([
      [cmds[0]!.id, "succeeded"],
      [cmds[1]!.id, "lost"],
      [cmds[2]!.id, "succeeded"],
    ]);
    expect(await itemsFor(cmds[0]!.id)).toHaveLength(1);
    expect(await itemsFor(cmds[1]!.id)).toHaveLength(0);
    expect(await itemsFor(cmds[2]!.id)).toHaveLength(1);
    expect((await commandRow(env, cmds[1]!.id)).state).toBe("running");
    expect((await attemptRows(env, cmds[1]!.id))[0]).toMatchObject({ side_effect_started: 0, finished_at: null });
  });
});
