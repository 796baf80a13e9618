import { and, eq } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import type { CommandRow, CommandType } from "../../schema/commands.ts";
import type { Ctx, PolicyRefusal } from "../lib/ctx.ts";
import { eqLiteral } from "../lib/sql.ts";

/**
 * Who put something in an inbox, as far as push delivery cares: a principal's actor string
 * (`owner:tok_…`, `session:ses_…`, `daemon:tok_…`, `runner:host`), or Switchyard itself routing a
 * completion along a binding the owner made.
 */
export type Originator = string | "switchyard";

/**
 * True when `originator` may have an inbox item typed into `targetId`'s pane: the same authority
 * a direct nudge needs. That is the owner, the session itself, its bound manager, or Switchyard
 * routing a bound worker's completion to its manager. Everyone else (another task's session, a
 * worker writing to its manager, a daemon) reaches the session only through its inbox (pull):
 * a message must never become keystrokes in a pane its sender could not nudge.
 */
export async function mayPushInto(ctx: Ctx, originator: Originator, targetId: string): Promise<boolean> {
  if (originator === "switchyard" || originator.startsWith("owner:")) return true;
  if (!originator.startsWith("session:")) return false;
  const sender = originator.slice("session:".length);
  if (sender === targetId) return true;
  const [managed] = await ctx.db
    .select({ id: bindings.id })
    .from(bindings)
    .where(and(eq(bindings.workerSessionId, targetId), eq(bindings.managerSessionId, sender), eqLiteral(bindings.state, "active")))
    .limit(1);
  return !!managed;
}

/** The command types that end as keystrokes in the target session's pane. */
const TYPING: ReadonlySet<CommandType> = new Set(["nudge", "interrupt", "deliver"]);

/**
 * The dispatch policy for keystrokes: a nudge, interrupt or inbox delivery a session queued runs
 * only while that session still has a nudge's authority over the target (it still manages it).
 * Authority was checked when the command was made; a binding that ended since (an unbind, a
 * re-pair) must not leave the old manager's keystrokes queued for the pane. Commands of the
 * owner and of Switchyard itself pass, as at creation.
 */
export async function pushAuthorityPolicy(ctx: Ctx, cmd: CommandRow): Promise<PolicyRefusal | null> {
  if (!TYPING.has(cmd.type) || !cmd.sessionId) return null;
  // A delivery a dispatcher made (a manager's nudge_worker, a loop's next pass) is created by the
  // dispatcher but carries the authority of whoever queued the signal, recorded in its payload.
  const recorded = cmd.type === "deliver" ? (cmd.payload as { on_behalf_of?: unknown }).on_behalf_of : undefined;
  const principal = typeof recorded === "string" ? recorded : cmd.createdBy;
  if (!principal.startsWith("session:")) return null;
  if (await mayPushInto(ctx, principal, cmd.sessionId)) return null;
  return {
    reason: `${principal} no longer manages the session this ${cmd.type} was for, so it is not typed into its pane`,
    receipt: {
      policy: "push_authority",
      decision: "blocked",
      on_behalf_of: principal,
      created_by: cmd.createdBy,
      target_session_id: cmd.sessionId,
      command_id: cmd.id,
      command_type: cmd.type,
    },
  };
}
