import { z } from "@hono/zod-openapi";
import { and, eq, isNull, lte, or, sql } from "drizzle-orm";
import { patrolState, type PatrolStateRow } from "../../schema/patrol.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { registerSession } from "../sessions/register.ts";
import { eqLiteral } from "../lib/sql.ts";

/** The patrol's single state row. */
export const PATROL_ID = "patrol";
/** Name of the session whose inbox the patrol reads and that its notifications come from. */
export const PATROL_SESSION_NAME = "patrol";
/** Marks the patrol's session as its own (a user session that happens to be named `patrol` is never adopted). */
export const PATROL_SESSION_MARKER = "switchyard patrol";
/** How long a run holds the patrol lease without beating; each step renews it. */
export const PATROL_LEASE_MS = 5 * 60_000;

/**
 * Every patrol threshold and policy, with its default. Stored in patrol_state.config_json and
 * changed with `patrol config --set key=value` (owner only).
 */
export const PatrolConfig = z
  .object({
    /** The patrol counts as not running when its heartbeat is older than this. */
    heartbeat_stale_seconds: z.number().int().min(10).max(86_400).default(180),
    /** health-scan: cycles before a restart is attempted, and before the owner is told. */
    restart_after_cycles: z.number().int().min(1).max(100).default(3),
    escalate_after_cycles: z.number().int().min(1).max(100).default(5),
    /** A dispatcher whose heartbeat is older than this is unresponsive this cycle. */
    dispatcher_stale_seconds: z.number().int().min(5).max(86_400).default(90),
    /** A remote host whose oldest pending host command is older than this has an unresponsive runner. */
    runner_stale_seconds: z.number().int().min(5).max(86_400).default(300),
    /** A busy bound session with no heartbeat, event or transcript growth for this long is unresponsive. */
    session_stale_seconds: z.number().int().min(5).max(86_400).default(600),
    /** A file written this recently under a worker's cwd counts as the worker being alive. */
    fresh_activity_seconds: z.number().int().min(1).max(86_400).default(300),
    /** orphan-check with apply: `report` only lists; `release` also ends the orphan's binding and releases its claims. */
    orphan_policy: z.enum(["report", "release"]).default("report"),
    /** session-gc: sessions probed per run (the rest on later runs, by cursor). */
    gc_batch: z.number().int().min(1).max(100_000).default(500),
    /** Where plugins live (directories with a plugin.md); null means the host's default. */
    plugin_dir: z.string().min(1).max(4096).nullable().default(null),
    /** Longest a plugin command may run. */
    plugin_timeout_seconds: z.number().int().min(1).max(3600).default(60),
  })
  .strict();

export type PatrolConfigValues = z.output<typeof PatrolConfig>;

/** The configuration in force: stored values over the defaults. */
export function configOf(row: PatrolStateRow | undefined): PatrolConfigValues {
  const parsed = PatrolConfig.safeParse(row?.config ?? {});
  // A stored config that no longer validates (a key removed in an upgrade) falls back to defaults.
  return parsed.success ? parsed.data : PatrolConfig.parse({});
}

/** Reads the patrol row, creating it on first use. */
export async function patrolRow(ctx: Ctx): Promise<PatrolStateRow> {
  const [row] = await ctx.db.select().from(patrolState).where(eq(patrolState.id, PATROL_ID)).limit(1);
  if (row) return row;
  await ctx.db.insert(patrolState).values({ id: PATROL_ID, config: {}, cursors: {}, updatedAt: ctx.now().getTime() }).onConflictDoNothing();
  const [created] = await ctx.db.select().from(patrolState).where(eq(patrolState.id, PATROL_ID)).limit(1);
  return created!;
}

/** The configuration in force. */
export async function patrolConfig(ctx: Ctx): Promise<PatrolConfigValues> {
  return configOf(await patrolRow(ctx));
}

/**
 * Takes the patrol lease for a run: one conditional UPDATE, so of two runs started together
 * exactly one proceeds. Returns false when another live run holds it.
 */
export async function takeLease(ctx: Ctx, holder: string): Promise<boolean> {
  await patrolRow(ctx);
  const nowMs = ctx.now().getTime();
  const won = await ctx.db
    .update(patrolState)
    .set({ leaseHolder: holder, leaseExpiresAt: nowMs + PATROL_LEASE_MS, beatAt: nowMs, beatRunId: holder, beatStep: null, updatedAt: nowMs })
    .where(and(eq(patrolState.id, PATROL_ID), or(isNull(patrolState.leaseExpiresAt), lte(patrolState.leaseExpiresAt, nowMs))))
    .returning({ id: patrolState.id });
  return won.length === 1;
}

/** The heartbeat: stamps the time and the step under way, and renews the run's lease. */
export async function beat(ctx: Ctx, runId: string, step: string | null): Promise<void> {
  const nowMs = ctx.now().getTime();
  await ctx.db
    .update(patrolState)
    .set({ beatAt: nowMs, beatRunId: runId, beatStep: step, leaseExpiresAt: nowMs + PATROL_LEASE_MS, updatedAt: nowMs })
    .where(and(eq(patrolState.id, PATROL_ID), eq(patrolState.leaseHolder, runId)));
}

/** Gives the lease back at the end of a run and records the final beat. */
export async function releaseLease(ctx: Ctx, runId: string): Promise<void> {
  const nowMs = ctx.now().getTime();
  await ctx.db
    .update(patrolState)
    .set({ beatAt: nowMs, beatRunId: runId, beatStep: null, leaseHolder: null, leaseExpiresAt: null, updatedAt: nowMs })
    .where(and(eq(patrolState.id, PATROL_ID), eq(patrolState.leaseHolder, runId)));
}

/** Reads one step's cursor (for steps that walk a large table a window per run). */
export function cursorOf(row: PatrolStateRow, step: string): string | null {
  return row.cursors?.[step] ?? null;
}

/** Stores one step's cursor; a JSON patch so concurrent steps' cursors do not overwrite each other. */
export async function saveCursor(ctx: Ctx, step: string, cursor: string | null): Promise<void> {
  await ctx.db
    .update(patrolState)
    .set({
      cursors:
        cursor === null
          ? sql`json_remove(coalesce(${patrolState.cursors}, '{}'), ${`$.${step}`})`
          : sql`json_set(coalesce(${patrolState.cursors}, '{}'), ${`$.${step}`}, ${cursor})`,
      updatedAt: ctx.now().getTime(),
    })
    .where(eq(patrolState.id, PATROL_ID));
}

/**
 * The patrol's own session: the inbox agents write to (`switchyard send patrol … --type help`)
 * and the sender of its notifications. Registered on first use; refuses to adopt an active
 * session of that name that it did not register itself.
 */
export async function ensurePatrolSession(ctx: Ctx): Promise<SessionRow> {
  const row = await patrolRow(ctx);
  if (row.sessionId) {
    const [s] = await ctx.db.select().from(sessions).where(eq(sessions.id, row.sessionId)).limit(1);
    if (s?.state === "active") return s;
  }
  const adopt = async (): Promise<SessionRow | null> => {
    const [taken] = await ctx.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.name, PATROL_SESSION_NAME), eqLiteral(sessions.state, "active")))
      .limit(1);
    if (!taken) return null;
    if (taken.threadTitle !== PATROL_SESSION_MARKER) {
      throw new ApiError("NAME_TAKEN", `an active session named '${PATROL_SESSION_NAME}' exists that the patrol did not register`, {
        hint: `Deregister it (switchyard deregister ${PATROL_SESSION_NAME}) so the patrol can own its inbox.`,
      });
    }
    await ctx.db.update(patrolState).set({ sessionId: taken.id, updatedAt: ctx.now().getTime() }).where(eq(patrolState.id, PATROL_ID));
    return taken;
  };
  const existing = await adopt();
  if (existing) return existing;
  try {
    await registerSession(ctx, { name: PATROL_SESSION_NAME, role: "manager", thread_title: PATROL_SESSION_MARKER });
  } catch (e) {
    // Another process registered it between our look and our insert; adopt theirs.
    if (!(e instanceof ApiError && e.code === "NAME_TAKEN")) throw e;
  }
  return (await adopt())!;
}

/**
 * The patrol's session, or null with the reason when it cannot have one (a user session holds
 * the name): the patrol then still runs and delivers, without an inbox of its own.
 */
export async function patrolSessionOrNull(ctx: Ctx): Promise<{ session: SessionRow | null; problem: string | null }> {
  try {
    return { session: await ensurePatrolSession(ctx), problem: null };
  } catch (e) {
    if (e instanceof ApiError && e.code === "NAME_TAKEN") return { session: null, problem: `${e.message}. ${e.hint ?? ""}`.trim() };
    throw e;
  }
}
