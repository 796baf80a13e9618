import { eq } from "drizzle-orm";
import { commandAttempts, commands, type CommandAttemptRow, type CommandRow } from "../../schema/commands.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";

/** The host a runner principal is scoped to. */
export function runnerHost(ctx: Ctx): string {
  if (ctx.auth.kind !== "runner" || !ctx.auth.host) {
    throw new ApiError("FORBIDDEN", "only a runner token scoped to a host may use the runner routes", {
      hint: "Mint one with: switchyard token mint --scope runner --host H",
    });
  }
  return ctx.auth.host;
}

/** Refuses a runner acting on a command that belongs to another host. */
function assertOwnHost(ctx: Ctx, cmd: CommandRow): void {
  const host = runnerHost(ctx);
  if (cmd.host !== host) {
    throw new ApiError("FORBIDDEN", `command ${cmd.id} belongs to host '${cmd.host ?? "-"}', not '${host}'`, {
      hint: "A runner reports only on its own host's commands.",
    });
  }
}

/** An attempt and its command, for a runner on the command's host. */
export async function runnerAttempt(ctx: Ctx, attemptId: string): Promise<{ attempt: CommandAttemptRow; command: CommandRow }> {
  const [row] = await ctx.db
    .select({ attempt: commandAttempts, command: commands })
    .from(commandAttempts)
    .innerJoin(commands, eq(commands.id, commandAttempts.commandId))
    .where(eq(commandAttempts.id, attemptId))
    .limit(1);
  if (!row) throw notFound("attempt", attemptId, "Use the attempt_id that POST /v1/runner/claim returned; claim again for new work.");
  assertOwnHost(ctx, row.command);
  return row;
}
