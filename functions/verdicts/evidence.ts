import { and, desc, eq } from "drizzle-orm";
import { bindings, type BindingRow } from "../../schema/bindings.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { tasks, type TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { canReach } from "../lib/local.ts";
import { patrolConfig } from "../patrol/state.ts";
import { RESULT_FILE, VERDICT_EXIT, type VerdictState } from "./schema.ts";

/** How far a file's mtime may trail the database clock and still count as written after it. */
const MTIME_MARGIN_MS = 2000;

/** What a target names: the task (when given or bound), its binding, and the worker. */
export interface Resolved {
  task: TaskRow | null;
  binding: BindingRow | null;
  worker: SessionRow;
}

/**
 * A target is a task name (its active binding, else its latest) or a worker session name (the
 * active session of that name, else the newest one, with its active binding if any).
 */
export async function resolveTarget(ctx: Ctx, target: string): Promise<Resolved | null> {
  const [task] = await ctx.db.select().from(tasks).where(eq(tasks.name, target)).limit(1);
  if (task) {
    const [binding] = await ctx.db.select().from(bindings).where(eq(bindings.taskId, task.id)).orderBy(desc(bindings.createdAt)).limit(1);
    if (!binding) return null;
    const [worker] = await ctx.db.select().from(sessions).where(eq(sessions.id, binding.workerSessionId)).limit(1);
    return worker ? { task, binding, worker } : null;
  }
  const [worker] = await ctx.db.select().from(sessions).where(eq(sessions.name, target)).orderBy(desc(sessions.createdAt)).limit(1);
  if (!worker) return null;
  const [binding] = await ctx.db
    .select()
    .from(bindings)
    .where(and(eq(bindings.workerSessionId, worker.id)))
    .orderBy(desc(bindings.createdAt))
    .limit(1);
  const [bt] = binding ? await ctx.db.select().from(tasks).where(eq(tasks.id, binding.taskId)).limit(1) : [];
  return { task: bt ?? null, binding: binding ?? null, worker };
}

/** One verdict with the evidence behind it. */
export interface VerdictReport {
  state: VerdictState;
  decided_by: "result_file" | "git" | "process" | "activity" | "administrative" | "none";
  next_action: string;
  reasons: string[];
  evidence: {
    result_file: Record<string, unknown> | null;
    git: Record<string, unknown> | null;
    process: Record<string, unknown> | null;
    activity: Record<string, unknown> | null;
    administrative: Record<string, unknown>;
  };
}

/**
 * Decides a dispatch's state from evidence, strongest first: a worker-written result file (of
 * this binding, not an older spawn's) > git (commits ahead of base, dirty tracked files) >
 * process (pid alive, checked with its start time) > administrative status (task and session
 * state). Fresh file activity under the worktree vetoes "process gone": a stale pid after a
 * respawn must not declare a worker that is visibly writing dead. A probe that fails is never
 * read as death.
 */
export async function judge(ctx: Ctx, r: Resolved, base: string): Promise<VerdictReport> {
  const reasons: string[] = [];
  const w = r.worker;
  const nowMs = ctx.now().getTime();
  const config = await patrolConfig(ctx);
  const administrative = {
    task_state: r.task?.state ?? null,
    binding_state: r.binding?.state ?? null,
    session_state: w.state,
  };
  const ev: VerdictReport["evidence"] = { result_file: null, git: null, process: null, activity: null, administrative };
  const local = canReach(ctx, w.host) && !!ctx.host;
  const cwd = w.cwd;

  // 1. The worker's own result file.
  if (local && cwd) {
    const path = `${cwd.replace(/\/+$/, "")}/${RESULT_FILE}`;
    const text = await ctx.host!.readTextFile(path, 64 * 1024).catch(() => null);
    if (text !== null) {
      let data: Record<string, unknown> | null = null;
      try {
        const parsed = JSON.parse(text);
        data = parsed && typeof parsed === "object" ? (parsed as Record<string, unknown>) : null;
      } catch {
        data = null;
      }
      const info = await ctx.host!.fileInfo(path).catch(() => null);
      const since = r.binding?.createdAt ?? w.createdAt;
      const namedSession = typeof data?.session_id === "string" ? data.session_id : null;
      const namedBinding = typeof data?.binding_id === "string" ? data.binding_id : null;
      let stale: string | null = null;
      if (namedSession && namedSession !== w.id) stale = `names session ${namedSession}, not the current worker ${w.id}`;
      else if (namedBinding && r.binding && namedBinding !== r.binding.id) stale = `names binding ${namedBinding}, not the current ${r.binding.id}`;
      // File times run on the kernel's coarse clock (a few ms behind): allow a margin.
      else if (!namedSession && !namedBinding && info && info.mtimeMs < since - MTIME_MARGIN_MS) stale = "was written before the current binding began";
      const status = typeof data?.status === "string" ? data.status.toLowerCase() : null;
      ev.result_file = { path, status, summary: data?.summary ?? null, stale, valid: data !== null };
      if (data === null) reasons.push(`${RESULT_FILE} exists but is not a JSON object: ignored`);
      else if (stale) reasons.push(`${RESULT_FILE} ${stale}: ignored (an older spawn's result never decides for the current one)`);
      else if (status === "done" || status === "ok" || status === "success" || status === "completed") {
        reasons.push(`${RESULT_FILE} says ${status}`);
        return {
          state: "done",
          decided_by: "result_file",
          next_action: `Review and merge the worker's branch; finish the task (switchyard finish-task ${r.task?.name ?? "TASK"}).`,
          reasons,
          evidence: ev,
        };
      } else if (status === "failed" || status === "failure" || status === "error") {
        reasons.push(`${RESULT_FILE} says ${status}`);
        return {
          state: "failed",
          decided_by: "result_file",
          next_action: "Read the result's summary and the worker's transcript (switchyard tail WORKER), fix, re-dispatch.",
          reasons,
          evidence: ev,
        };
      } else reasons.push(`${RESULT_FILE} has status ${JSON.stringify(status)}: not a verdict`);
    }
  }

  // 2. Git.
  let dirty = false;
  let ahead = 0;
  if (local && cwd) {
    const git = await ctx.host!.gitEvidence(cwd, base).catch((e: Error) => ({ error: e.message }));
    ev.git = { ...git };
    if ("error" in git) reasons.push(`git evidence unavailable: ${git.error}`);
    else if (git.repo) {
      ahead = git.commitsAhead ?? 0;
      dirty = git.dirtyTracked.length > 0;
      reasons.push(
        `git: ${git.commitsAhead === null ? `base ${base} does not resolve` : `${ahead} commit(s) ahead of ${base}`}, ${git.dirtyTracked.length} dirty tracked file(s), ${git.untracked.length} untracked`,
      );
      if (ahead > 0 && !dirty) {
        return {
          state: "done",
          decided_by: "git",
          next_action: `Delivered (committed, clean tree): review and merge branch ${git.branch ?? "HEAD"}. Never kill and re-route a delivered worker.`,
          reasons,
          evidence: ev,
        };
      }
    } else reasons.push(`${cwd} is not a git worktree`);
  } else if (!local) reasons.push(`the worker lives on host ${w.host}; no worktree or process evidence from here`);

  // 3. The process, with file activity as the veto on "gone".
  let alive: boolean | null = null;
  if (local && w.pid !== null) {
    alive = await ctx.host!.pidAlive(w.pid, w.pidStartedAt).catch(() => null);
    ev.process = { pid: w.pid, alive, checked_start_time: w.pidStartedAt !== null };
    reasons.push(alive === null ? `pid ${w.pid} could not be probed (not evidence of death)` : `pid ${w.pid} is ${alive ? "running" : "not running"}`);
  }
  if (alive === false && cwd && local) {
    const act = await ctx.host!.newestActivity(cwd, { maxEntries: 5000 }).catch(() => null);
    const age = act ? Math.round((nowMs - act.mtimeMs) / 1000) : null;
    ev.activity = act
      ? { newest_path: act.path, age_seconds: age, fresh_within_seconds: config.fresh_activity_seconds }
      : { newest_path: null, age_seconds: null };
    if (age !== null && age < config.fresh_activity_seconds) {
      reasons.push(`but ${act!.path} was written ${age}s ago: something is still working there (veto on "process gone")`);
      return { state: "running", decided_by: "activity", next_action: "Leave it: the worktree is being written. Check again later.", reasons, evidence: ev };
    }
    reasons.push(`nothing under ${cwd} written in the last ${config.fresh_activity_seconds}s`);
  }
  if (alive === true) {
    return {
      state: "running",
      decided_by: "process",
      next_action: dirty ? "Work in flight: leave it running." : "Running, nothing committed yet: leave it running.",
      reasons,
      evidence: ev,
    };
  }
  if (alive === false) {
    const recover = dirty || ahead > 0 || ((ev.git?.untracked as string[] | undefined)?.length ?? 0) > 0;
    // Without a readable git worktree nothing says the directory is clean.
    const blind = local && cwd && ev.git?.repo !== true;
    return {
      state: "worker-process-gone",
      decided_by: "process",
      next_action: blind
        ? `Look before re-dispatching: git cannot read ${cwd} (not a worktree, missing, or damaged), so whether the worker left work there is unknown and harvest cannot commit it; inspect the directory by hand.`
        : recover
          ? `Recover before anything else: switchyard harvest ${r.task?.name ?? w.name} --orphaned (commits the uncommitted work on its branch and releases its claims); never delete or reset the worktree.`
          : "Nothing to recover (clean tree, no commits ahead, no result): re-dispatch the task to a new worker.",
      reasons,
      evidence: ev,
    };
  }

  // 4. Administrative status: the weakest signal, used only when nothing stronger spoke.
  reasons.push(`administrative: task ${administrative.task_state ?? "-"}, binding ${administrative.binding_state ?? "-"}, session ${w.state}`);
  if (r.task?.state === "finished") {
    return {
      state: "done",
      decided_by: "administrative",
      next_action: "The task is marked finished; no stronger evidence was available to confirm it.",
      reasons,
      evidence: ev,
    };
  }
  if (w.state === "gone") {
    return {
      state: "worker-process-gone",
      decided_by: "administrative",
      next_action: "The worker session is gone and nothing on this host could be checked; inspect its worktree on its host before re-dispatching.",
      reasons,
      evidence: ev,
    };
  }
  return { state: "running", decided_by: "none", next_action: "No evidence either way yet; check again later.", reasons, evidence: ev };
}

/** The exit code for a state (null while running). */
export function exitCodeOf(state: VerdictState): number | null {
  return state === "running" ? null : VERDICT_EXIT[state];
}
