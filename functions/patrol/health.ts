import { and, eq, gt, inArray, like, sql } from "drizzle-orm";
import { commands, dispatchers, type DispatcherRow } from "../../schema/commands.ts";
import { healthStates, spawns } from "../../schema/patrol.ts";
import { DISPATCH_PLUGINS } from "../executors.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { assertPaneOwned, canReach } from "../lib/local.ts";
import { paneOwnerOf } from "../actuate/pane-executors.ts";
import { dispatchPass } from "../queue/dispatch-pass.ts";
import { stopDispatcher } from "../queue/dispatchers.ts";
import type { StepInput } from "./dag.ts";
import { type Component, escalationKey, type HealthVerdict, recordAction, recordObservation, vetoRestart } from "./health-state.ts";
import { type Notice, writeNotices } from "./notify.ts";
import type { PatrolConfigValues } from "./state.ts";

/** FNV-1a over the pane text: enough to tell "the pane changed" without storing the pane. */
export function paneDigest(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** One bound session as the health query sees it. */
interface BoundSession {
  id: string;
  name: string;
  role: string;
  host: string | null;
  pid: number | null;
  pid_started_at: number | null;
  tmux_session: string | null;
  transcript_path: string | null;
  last_heartbeat_at: number | null;
  created_at: number;
  ingest_at: number | null;
  last_start: number | null;
  last_done: number | null;
  prev_cycles: number | null;
  prev_size: number | null;
  prev_pane: string | null;
}

type ActionReport = { component: string; label: string; decision: string; cycles: number; action: string };

/**
 * Every session in an active binding, with what the primary signal needs: whether its last
 * turn is still open (a start newer than the last completion, each a max over the
 * (session, kind, id) index) and its last heartbeat or ingest, plus the previous health row.
 */
async function boundSessions(ctx: Ctx): Promise<BoundSession[]> {
  return ctx.db.all<BoundSession>(sql`
    SELECT s.id, s.name, s.role, s.host, s.pid, s.pid_started_at, s.tmux_session, s.transcript_path,
           s.last_heartbeat_at, s.created_at, c.updated_at AS ingest_at,
           (SELECT max(e.id) FROM transcript_events e WHERE e.session_id = s.id AND e.kind IN ('task_started', 'user_message')) AS last_start,
           (SELECT max(e.id) FROM transcript_events e WHERE e.session_id = s.id AND e.kind = 'task_complete') AS last_done,
           h.unresponsive_cycles AS prev_cycles, h.transcript_size AS prev_size, h.pane_digest AS prev_pane
      FROM bindings b
      JOIN sessions s ON s.id = b.worker_session_id OR s.id = b.manager_session_id
      LEFT JOIN ingest_cursors c ON c.session_id = s.id
      LEFT JOIN health_states h ON h.component = 'session:' || s.id
     WHERE b.state = 'active' AND s.state = 'active'`);
}

/**
 * The second, independent look before a restart: transcript growth or a pane that changed
 * since the last check is activity (the primary signal was wrong: a busy agent deep in a long
 * tool call); a dead pid means there is nothing to restart (orphan-check's business); only a
 * live process with a frozen pane and a still transcript is confirmed unresponsive.
 */
async function confirmSession(
  ctx: Ctx,
  s: BoundSession,
): Promise<{ verdict: "active" | "dead" | "frozen" | "unknown"; evidence: string; size: number | null; pane: string | null }> {
  if (!canReach(ctx, s.host)) return { verdict: "unknown", evidence: `lives on host ${s.host}; no local probe`, size: null, pane: null };
  const host = ctx.host!;
  let size: number | null = null;
  if (s.transcript_path) {
    const info = await host.fileInfo(s.transcript_path).catch(() => null);
    size = info?.size ?? null;
    if (size !== null && s.prev_size !== null && size > s.prev_size)
      return { verdict: "active", evidence: `transcript grew ${s.prev_size} -> ${size} bytes`, size, pane: null };
  }
  let pane: string | null = null;
  if (s.tmux_session) {
    // Only a pane that still runs the registered agent is read (a failed check reads nothing).
    const text = await assertPaneOwned(host, s.tmux_session, { pid: s.pid, startedAt: s.pid_started_at, transcriptPath: s.transcript_path })
      .then(() => host.tmuxCapturePane(s.tmux_session!))
      .catch(() => null);
    pane = text === null ? null : paneDigest(text);
    if (pane !== null && s.prev_pane !== null && pane !== s.prev_pane) return { verdict: "active", evidence: "pane changed since the last check", size, pane };
  }
  if (s.pid !== null) {
    // A probe that fails is not evidence of death.
    const alive = await host.pidAlive(s.pid, s.pid_started_at).catch(() => null);
    if (alive === false) return { verdict: "dead", evidence: `pid ${s.pid} is not running`, size, pane };
    if (alive === null) return { verdict: "unknown", evidence: `pid ${s.pid} could not be probed`, size, pane };
  }
  if (s.prev_size === null && s.prev_pane === null) return { verdict: "unknown", evidence: "no baseline yet (first look)", size, pane };
  return { verdict: "frozen", evidence: `pid ${s.pid ?? "?"} alive, pane and transcript unchanged`, size, pane };
}

/** Escalation notice for the owner. */
function escalation(v: HealthVerdict, what: string, details: Record<string, unknown>): Notice {
  const last = v.row.lastSeenHealthyAt ? new Date(v.row.lastSeenHealthyAt).toISOString() : "never seen healthy";
  return {
    to: "owner",
    kind: "health_escalation",
    subject: `Health: ${v.row.label} (${v.row.kind}) unresponsive`,
    body: `${what} has been unresponsive for ${v.cycles} patrol cycles. Last healthy: ${last}. Last action: ${v.row.lastAction ?? "none"}. Signals: ${JSON.stringify(v.row.signals)}`,
    payload: { component: v.row.component, kind: v.row.kind, cycles: v.cycles, ...details },
    dedupKey: escalationKey(v.row),
  };
}

/** The scope of the command keys the patrol derives itself (restarts, pending-spawn nudges). */
export const PATROL_KEY_SCOPE = "patrol";

/** Queues an interrupt (C-c) with a prompt to carry on, for the session's host to run. */
async function requestSessionRestart(ctx: Ctx, s: BoundSession, cycles: number): Promise<string> {
  const nowMs = ctx.now().getTime();
  const id = ctx.newId("cmd");
  const audit = auditInsert(ctx, { kind: "health_restart_requested", sessionId: s.id, payload: { component: `session:${s.id}`, command_id: id, cycles } });
  await ctx.db.batch([
    ctx.db
      .insert(commands)
      .values({
        id,
        type: "interrupt",
        state: "pending",
        sessionId: s.id,
        host: s.host,
        // The interrupt carries the agent its pane must still run, as every pane command does,
        // so the executor refuses a pane that has changed hands since the patrol looked.
        payload: {
          ...paneOwnerOf({ pid: s.pid, pidStartedAt: s.pid_started_at }),
          transcript_path: s.transcript_path,
          tmux_session: s.tmux_session,
          key: "C-c",
          followup: "The patrol saw no progress for several checks and interrupted you. Continue where you left off, or say what blocks you.",
        },
        idempotencyKey: `health-restart:${s.id}:${cycles}`,
        // Keys are unique per scope, and a null scope is never equal to another: without one,
        // two patrols could both queue this restart.
        idempotencyScope: PATROL_KEY_SCOPE,
        maxAttempts: 1,
        createdBy: actorOf(ctx.auth),
        createdAt: nowMs,
        updatedAt: nowMs,
      })
      .onConflictDoNothing(),
    audit.stmt,
  ]);
  return id;
}

async function scanSessions(ctx: Ctx, config: PatrolConfigValues, actions: ActionReport[], notices: Notice[]) {
  const nowMs = ctx.now().getTime();
  const rows = await boundSessions(ctx);
  const owned = new Set(
    rows.length
      ? (
          await ctx.db
            .select({ id: spawns.sessionId })
            .from(spawns)
            .where(
              inArray(
                spawns.sessionId,
                rows.map((r) => r.id),
              ),
            )
        ).map((r) => r.id)
      : [],
  );
  let watched = 0;
  let unresponsive = 0;
  for (const s of rows) {
    watched++;
    const busy = (s.last_start ?? 0) > (s.last_done ?? 0);
    const activityAt = Math.max(s.last_heartbeat_at ?? 0, s.ingest_at ?? 0, s.created_at);
    const silentSeconds = Math.round((nowMs - activityAt) / 1000);
    const silent = busy && silentSeconds > config.session_stale_seconds;
    // Healthy and already known healthy: nothing to write (cost stays with the unhealthy few).
    if (!silent && !s.prev_cycles) continue;
    const component: Component = { component: `session:${s.id}`, kind: "session", label: s.name };
    const signals = { busy, silent_seconds: silentSeconds, last_heartbeat_at: s.last_heartbeat_at, last_ingest_at: s.ingest_at };
    if (!silent) {
      const v = await recordObservation(ctx, component, { unresponsive: false, signals }, config);
      actions.push({ component: component.component, label: s.name, decision: v.decision, cycles: 0, action: "reset on recovery" });
      continue;
    }
    unresponsive++;
    // Every unresponsive cycle refreshes the second-signal baselines, so "grew" and "changed"
    // always compare with the previous check.
    const look = await confirmSession(ctx, s);
    const v = await recordObservation(
      ctx,
      component,
      { unresponsive: true, signals: { ...signals, second_signal: look.evidence }, transcriptSize: look.size, paneDigest: look.pane },
      config,
    );
    if (look.verdict === "active") {
      await vetoRestart(ctx, component.component, look.evidence);
      actions.push({ component: component.component, label: s.name, decision: "vetoed", cycles: v.cycles, action: `no restart: ${look.evidence}` });
      continue;
    }
    if (v.decision === "restart") {
      let action: string;
      if (look.verdict !== "frozen") action = `no restart: ${look.evidence}`;
      else if (!owned.has(s.id) || !s.tmux_session) action = "no restart: Switchyard did not start this process";
      else
        action = `restart requested: interrupt command ${await requestSessionRestart(ctx, s, v.cycles)}${canReach(ctx, s.host) ? "" : ` for the runner of ${s.host}`}`;
      await recordAction(ctx, component.component, action);
      actions.push({ component: component.component, label: s.name, decision: v.decision, cycles: v.cycles, action });
    } else if (v.decision === "escalate") {
      notices.push(escalation(v, `Session ${s.name} (${s.role})`, { session: s.name, second_signal: look.evidence }));
      await recordAction(ctx, component.component, "escalated to the owner", true);
      actions.push({ component: component.component, label: s.name, decision: v.decision, cycles: v.cycles, action: "escalated to the owner" });
    } else {
      actions.push({
        component: component.component,
        label: s.name,
        decision: v.decision,
        cycles: v.cycles,
        action: v.decision === "note" ? "noted" : "already escalated",
      });
    }
  }
  return { watched, unresponsive };
}

/** Takes over a dispatcher whose process is confirmed dead: marks it stopped and runs its pass here. */
async function takeOverDispatcher(ctx: Ctx, d: DispatcherRow): Promise<string> {
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "health_dispatcher_taken_over", payload: { dispatcher_id: d.id, pid: d.pid, host: d.host } });
  await ctx.db.batch([
    ctx.db
      .update(dispatchers)
      .set({ state: "stopped", stoppedAt: nowMs })
      .where(and(eq(dispatchers.id, d.id), eq(dispatchers.heartbeatAt, d.heartbeatAt))),
    audit.stmt,
  ]);
  const takeover = `patrol-takeover:${d.id}`;
  const pass = await dispatchPass(ctx, DISPATCH_PLUGINS, { dispatcherId: takeover });
  // The pass beats a dispatcher row of its own; it is not a process to watch.
  await stopDispatcher(ctx, takeover, null);
  return `process gone: marked stopped and ran a takeover pass (${pass.claimed} command(s))`;
}

async function scanDispatchers(ctx: Ctx, config: PatrolConfigValues, actions: ActionReport[], notices: Notice[]) {
  const nowMs = ctx.now().getTime();
  const rows = await ctx.db.select().from(dispatchers).where(eq(dispatchers.state, "running"));
  for (const d of rows) {
    const age = Math.round((nowMs - d.heartbeatAt) / 1000);
    const unresponsive = age > config.dispatcher_stale_seconds;
    const component: Component = { component: `dispatcher:${d.id}`, kind: "dispatcher", label: d.id };
    const v = await recordObservation(ctx, component, { unresponsive, signals: { heartbeat_age_seconds: age, pid: d.pid, host: d.host } }, config);
    if (!unresponsive) {
      if (v.decision === "recovered")
        actions.push({ component: component.component, label: d.id, decision: v.decision, cycles: 0, action: "reset on recovery" });
      continue;
    }
    let action = v.decision === "note" ? "noted" : "already escalated";
    if (v.decision === "restart") {
      const alive = d.pid !== null && canReach(ctx, d.host) ? await ctx.host!.pidAlive(d.pid).catch(() => null) : null;
      if (alive === false) action = await takeOverDispatcher(ctx, d);
      else action = alive === true ? `no restart: pid ${d.pid} is alive (busy or hung; not ours to kill)` : `no restart: cannot probe ${d.host ?? "its host"}`;
      await recordAction(ctx, component.component, action);
    } else if (v.decision === "escalate") {
      notices.push(escalation(v, `Dispatcher ${d.id}`, { dispatcher_id: d.id }));
      await recordAction(ctx, component.component, "escalated to the owner", true);
      action = "escalated to the owner";
    }
    actions.push({ component: component.component, label: d.id, decision: v.decision, cycles: v.cycles, action });
  }
  return rows.length;
}

/**
 * Remote runners have no heartbeat row; their pulse is their host's queue. A host whose oldest
 * due host command has waited longer than runner_stale_seconds has a runner that is not
 * claiming. Remote runners are not ours to restart, so they are noted and then escalated.
 */
async function scanRunners(ctx: Ctx, config: PatrolConfigValues, actions: ActionReport[], notices: Notice[]) {
  const nowMs = ctx.now().getTime();
  const hosts = await ctx.db
    .select({ host: commands.host, oldest: sql<number>`min(${commands.createdAt})` })
    .from(commands)
    .where(and(eq(commands.state, "pending"), sql`${commands.host} IS NOT NULL`))
    .groupBy(commands.host);
  const watched = hosts.filter((h) => h.host !== null && !canReach(ctx, h.host));
  const known = await ctx.db
    .select({ component: healthStates.component })
    .from(healthStates)
    .where(and(gt(healthStates.unresponsiveCycles, 0), like(healthStates.component, "runner:%")));
  const names = new Set(watched.map((h) => `runner:${h.host}`));
  for (const k of known) if (!names.has(k.component)) watched.push({ host: k.component.slice("runner:".length), oldest: nowMs });
  for (const h of watched) {
    const age = Math.round((nowMs - h.oldest) / 1000);
    const unresponsive = age > config.runner_stale_seconds;
    const component: Component = { component: `runner:${h.host}`, kind: "runner", label: h.host! };
    const v = await recordObservation(ctx, component, { unresponsive, signals: { oldest_pending_age_seconds: age } }, config);
    if (!unresponsive) {
      if (v.decision === "recovered")
        actions.push({ component: component.component, label: h.host!, decision: v.decision, cycles: 0, action: "reset on recovery" });
      continue;
    }
    let action = v.decision === "restart" ? `no restart: the runner of ${h.host} runs on that machine` : v.decision === "note" ? "noted" : "already escalated";
    if (v.decision === "escalate") {
      notices.push(escalation(v, `The runner of host ${h.host}`, { host: h.host, oldest_pending_age_seconds: age }));
      await recordAction(ctx, component.component, "escalated to the owner", true);
      action = "escalated to the owner";
    } else if (v.decision === "restart") await recordAction(ctx, component.component, action);
    actions.push({ component: component.component, label: h.host!, decision: v.decision, cycles: v.cycles, action });
  }
  return watched.length;
}

/**
 * The health-scan step: counts unresponsive cycles per dispatcher, remote runner and bound
 * session; 1..restart-1 cycles are noted, then a restart is attempted where we own the process
 * (after a second, independent signal confirms it), then the owner is told once per episode.
 * A component that answers again is reset. The patrol itself is watched by patrol-watch.
 */
export async function healthScan({ ctx, config }: StepInput) {
  const actions: ActionReport[] = [];
  const notices: Notice[] = [];
  const dispatcherCount = await scanDispatchers(ctx, config, actions, notices);
  const runnerCount = await scanRunners(ctx, config, actions, notices);
  const sessions = await scanSessions(ctx, config, actions, notices);
  await writeNotices(ctx, notices);
  return {
    dispatchers: dispatcherCount,
    runners: runnerCount,
    sessions: sessions.watched,
    unresponsive_sessions: sessions.unresponsive,
    escalated: notices.length,
    actions,
  };
}
