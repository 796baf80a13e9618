import { z } from "@hono/zod-openapi";
import { makeCtx, type Ctx } from "../../../functions/lib/ctx.ts";
import type { ExecutorTable } from "../../../functions/lib/ctx.ts";
import { afterEach, beforeEach } from "vitest";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

/** A side effect the test can observe: every run is recorded; payload.fail makes it fail. */
export function recordingExecutors(runs: Run[]): ExecutorTable {
  const executor = {
    payload: z.object({ n: z.number().int(), fail: z.boolean().optional(), throw: z.boolean().optional() }),
    async run(_ctx: unknown, cmd: { id: string; claimGeneration: number }, p: { n: number; fail?: boolean; throw?: boolean }) {
      runs.push({ id: cmd.id, generation: cmd.claimGeneration });
      if (p.throw) throw new Error(`executor threw for ${p.n}`);
      return p.fail ? { ok: false, result: { n: p.n }, error: "told to fail" } : { ok: true, result: { n: p.n } };
    },
  };
  // notify_manager stands in for a database-side command, nudge for a host command.
  return { notify_manager: executor, nudge: executor } as unknown as ExecutorTable;
}

/** One recorded executor run: which command, under which claim generation. */
export type Run = { id: string; generation: number };

/**
 * Registers the hooks of a queue test file: before each test a fresh TestEnv (built with `opts`)
 * whose executors record every run, closed after it. Tests read `q.env` and `q.runs`.
 */
export function recordingQueue(opts: Parameters<typeof makeTestEnv>[0] = {}): { readonly env: TestEnv; readonly runs: Run[] } {
  let env: TestEnv | undefined;
  let runs: Run[] = [];
  beforeEach(async () => {
    env = await makeTestEnv(opts);
    runs = [];
    env.services.executors = recordingExecutors(runs);
  });
  afterEach(() => env?.close());
  return {
    get env() {
      return env!;
    },
    get runs() {
      return runs;
    },
  };
}

/** A ctx over the test env as the owner (domain functions take a ctx, not HTTP). */
export function ownerCtx(env: TestEnv): Ctx {
  return makeCtx(env.services, { kind: "owner", tokenId: "tok_test" });
}

/** Reads one command row straight from the database. */
export async function commandRow(env: TestEnv, id: string) {
  const rs = await env.services.database.client.execute({ sql: "SELECT * FROM commands WHERE id = ?", args: [id] });
  return rs.rows[0] as unknown as Record<string, any>;
}

/** Attempts of one command, oldest first. */
export async function attemptRows(env: TestEnv, id: string) {
  const rs = await env.services.database.client.execute({ sql: "SELECT * FROM command_attempts WHERE command_id = ? ORDER BY claim_generation", args: [id] });
  return rs.rows as unknown as Array<Record<string, any>>;
}
