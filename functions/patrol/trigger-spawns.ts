import { and, asc, eq, sql } from "drizzle-orm";
import { commands } from "../../schema/commands.ts";
import { events } from "../../schema/events.ts";
import { spawns, type SpawnRow } from "../../schema/patrol.ts";
import { sessions } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { assertPaneOwned, canReach } from "../lib/local.ts";
import { paneOwnerOf } from "../actuate/pane-executors.ts";
import { classifyPane } from "../observe/classify.ts";
import type { StepInput } from "./dag.ts";
import { PATROL_KEY_SCOPE } from "./health.ts";
import { DEFAULT_BEGIN_TEXT } from "./spawns.ts";
import { eqLiteral } from "../lib/sql.ts";

/** A composer line: Codex shows `›`, Claude Code `❯`, older TUIs a bare `>`. */
const PROMPT_LINE = /^\s*(?:[›❯]|>)(?:\s|$)/;

/**
 * True when a pane shows an agent waiting for input: a composer prompt line near the bottom,
 * nothing busy, and no menu (trust, approval, confirm) whose own `❯` marker would look alike.
 */
export function paneShowsReadyPrompt(pane: string): boolean {
  const c = classifyPane(pane);
  if (c.busy_indicator || c.matched.some((p) => p !== "long_running_interruptible")) return false;
  const lines = pane.trimEnd().split("\n").slice(-12);
  return lines.some((l) => PROMPT_LINE.test(l));
}

type TriggerReport = {
  pending: number;
  triggered: Array<{ spawn_id: string; session: string; command_id: string }>;
  not_ready: string[];
  cleared_gone: string[];
  skipped_remote: string[];
  errors: Array<{ session: string; error: string }>;
};

/**
 * Nudges pending spawns whose pane shows the ready prompt, once: the spawn leaves `pending` and
 * the nudge command is created in one batch, the command guarded by the spawn's update and
 * keyed by the spawn id, so neither a second patrol nor a crash and retry can nudge twice. The
 * dispatcher types it (verified submission, like every nudge).
 */
export async function triggerPendingSpawns({ ctx }: StepInput): Promise<TriggerReport> {
  const report: TriggerReport = { pending: 0, triggered: [], not_ready: [], cleared_gone: [], skipped_remote: [], errors: [] };
  const rows = await ctx.db.select().from(spawns).where(eqLiteral(spawns.state, "pending")).orderBy(asc(spawns.createdAt), asc(spawns.id)).limit(100);
  report.pending = rows.length;
  for (const sp of rows) {
    const [s] = await ctx.db.select().from(sessions).where(eq(sessions.id, sp.sessionId)).limit(1);
    if (!s || s.state !== "active") {
      await ctx.db
        .update(spawns)
        .set({ state: "started" })
        .where(and(eq(spawns.id, sp.id), eqLiteral(spawns.state, "pending")));
      report.cleared_gone.push(sp.sessionName);
      continue;
    }
    if (!canReach(ctx, sp.host)) {
      report.skipped_remote.push(sp.sessionName);
      continue;
    }
    let pane: string;
    try {
      // The pane is read, and later typed into, only while it still runs the agent registered
      // for it (the nudge executor checks again before typing).
      await assertPaneOwned(ctx.host!, sp.tmuxSession, { pid: s.pid, startedAt: s.pidStartedAt, transcriptPath: s.transcriptPath });
      pane = await ctx.host!.tmuxCapturePane(sp.tmuxSession);
    } catch (e) {
      report.errors.push({ session: sp.sessionName, error: (e as Error).message });
      continue;
    }
    if (!paneShowsReadyPrompt(pane)) {
      report.not_ready.push(sp.sessionName);
      continue;
    }
    const commandId = await triggerOnce(ctx, sp, s);
    if (commandId) report.triggered.push({ spawn_id: sp.id, session: sp.sessionName, command_id: commandId });
  }
  return report;
}

/** The batch that clears one spawn from pending and queues its nudge; null when it lost a race. */
async function triggerOnce(ctx: Ctx, sp: SpawnRow, s: typeof sessions.$inferSelect): Promise<string | null> {
  const nowMs = ctx.now().getTime();
  const commandId = ctx.newId("cmd");
  const guard = sql`EXISTS (SELECT 1 FROM ${spawns} WHERE ${spawns.id} = ${sp.id} AND ${spawns.triggerCommandId} = ${commandId})`;
  const text = sp.beginText ?? DEFAULT_BEGIN_TEXT;
  const audit = auditInsert(ctx, { kind: "spawn_triggered", sessionId: s.id, payload: { spawn_id: sp.id, command_id: commandId, text } });
  await ctx.db.batch([
    ctx.db
      .update(spawns)
      .set({ state: "triggered", triggeredAt: nowMs, triggerCommandId: commandId })
      .where(and(eq(spawns.id, sp.id), eqLiteral(spawns.state, "pending"))),
    guardedInsert(
      ctx.db,
      commands,
      {
        id: commandId,
        type: "nudge",
        state: "pending",
        taskId: null,
        sessionId: s.id,
        host: s.host,
        payload: { ...paneOwnerOf(s), tmux_session: sp.tmuxSession, text, transcript_path: s.transcriptPath, transcript_kind: s.transcriptKind },
        idempotencyKey: `pending-spawn:${sp.id}`,
        idempotencyScope: PATROL_KEY_SCOPE,
        maxAttempts: 3,
        createdBy: actorOf(ctx.auth),
        createdAt: nowMs,
        updatedAt: nowMs,
      },
      guard,
    ),
    guardedInsert(ctx.db, events, audit.row, guard),
  ]);
  const [after] = await ctx.db.select({ id: spawns.triggerCommandId }).from(spawns).where(eq(spawns.id, sp.id));
  return after?.id === commandId ? commandId : null;
}
