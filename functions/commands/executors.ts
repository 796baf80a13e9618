import type { z } from "@hono/zod-openapi";
import type { CommandRow, CommandType } from "../../schema/commands.ts";
import { ACTUATE_EXECUTORS } from "../actuate/executors.ts";
import { DISPATCH_EXECUTORS } from "../dispatch/executors.ts";
import type { Ctx } from "../lib/ctx.ts";
import type { EffectOutcome } from "./execute.ts";

/** What a host executor may use: the machine, never the database, so a remote runner can run it. */
export type HostCtx = Pick<Ctx, "host" | "hostName" | "now" | "log">;

/**
 * Performs one command's side effect. The stored payload is validated with `payload` after the
 * claim and before anything happens, so an invalid payload fails with no side effect; `run` is
 * called only after the claim was confirmed live and side_effect_started recorded.
 */
export interface Executor<P = any, C extends HostCtx = Ctx> {
  payload: z.ZodType<P>;
  run(ctx: C, cmd: CommandRow, payload: P): Promise<EffectOutcome>;
}

/** A table of executors by command type. */
export type ExecutorTable = Partial<Record<CommandType, Executor>>;

/** Command types that act on a machine and so run only where that host's Host is available. */
export const HOST_COMMAND_TYPES: readonly CommandType[] = ["nudge", "interrupt", "capture", "stop", "spawn", "deliver"];

/**
 * Every command type's executor. Each group registers its own entries here, one spread per
 * group, so the dispatcher, the inline path and the remote runner share one table.
 */
export const EXECUTORS: ExecutorTable = {
  ...ACTUATE_EXECUTORS,
  ...DISPATCH_EXECUTORS,
};

/** The executors this process uses: the services' override (tests) or the shared table. */
export function executorsOf(ctx: Pick<Ctx, "executors">): ExecutorTable {
  return ctx.executors ?? EXECUTORS;
}
