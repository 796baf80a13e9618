import type { CommandType } from "../../schema/commands.ts";
import { ACTUATE_EXECUTORS } from "../actuate/executors.ts";
import { INBOX_EXECUTORS } from "../messages/inbox-executors.ts";
import type { Ctx, ExecutorTable } from "../lib/ctx.ts";

/** Command types that act on a machine and so run only where that host's Host is available. */
export const HOST_COMMAND_TYPES: readonly CommandType[] = ["nudge", "interrupt", "capture", "stop", "spawn", "deliver"];

/**
 * Every command type's executor. Each group registers its own entries here, one spread per
 * group, so the dispatcher, the inline path and the remote runner share one table.
 */
export const EXECUTORS: ExecutorTable = {
  ...ACTUATE_EXECUTORS,
  ...INBOX_EXECUTORS,
};

/** The executors this process uses: the services' override (tests) or the shared table. */
export function executorsOf(ctx: Pick<Ctx, "executors">): ExecutorTable {
  return ctx.executors ?? EXECUTORS;
}
