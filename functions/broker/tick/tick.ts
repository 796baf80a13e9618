import type { z } from "@hono/zod-openapi";
import { and, count, eq, gt, isNotNull, isNull, lt, sql } from "drizzle-orm";
import { adviceRequests, approvalTokens, brokerEvents, brokerRuns, orchestratorJobs, type BrokerRunRow } from "../../../schema/broker.ts";
import { actorOf, type Ctx } from "../../lib/ctx.ts";
import { withWriteTransaction } from "../../lib/db.ts";
import { ApiError } from "../../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../../lib/route.ts";
import { iso } from "../../lib/sql.ts";
import { exceeds, limitOf, observedWork, overrun, remaining, sendViolation, timeViolation, type Violation } from "../runs/enforce.ts";
import { acquireRunLease, leaseHeldError } from "../runs/lease.ts";
import { conditionNotedValues, RUN_EVENT, stopRun } from "../runs/lifecycle.ts";
import type { StopCondition, StopReason } from "../runs/schema.ts";
import { runById, runToWire } from "../runs/wire.ts";
import { brokerEventValues } from "../wire.ts";
import { brokerFlow, type AdviceFlow } from "./flow.ts";
import { TickBody, TickResult } from "./schema.ts";

export const tickRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "post",
    path: "/broker/tick",
    tags: ["broker"],
    summary: "One visible broker cycle: poll, ingest, draft, enforce the run's limits — never send",
    description:
      "Without run_id: one pass over matching request messages and queued jobs. With run_id: takes (or renews) the run's lease first and refuses with CONFLICT while another holder's lease is live; then checks expiry, runtime, idle time and send tripwires, ingests and drafts within the run's budgets, applies its stop conditions, and stops the run when one is met. CLI: broker tick [--project P] [--to-session S] [--run-id R].",
    request: { body: jsonBody(TickBody) },
    responses: { 200: jsonResponse(TickResult, "What the tick did") },
  },
  { rateLimited: true, deadline: "own" },
);

type TickOptions = z.output<typeof TickBody>;
type Result = z.infer<typeof TickResult>;
type Row = typeof brokerEvents.$inferInsert;

/** Policy reasons (set by the broker's policy layer) that mean the reply has no clear recipient. */
const RECIPIENT_BLOCK = /^(unknown|ambiguous)_recipient\b/;

/** Case- and whitespace-insensitive form of a draft, for spotting duplicates. */
const normalized = (text: string) => text.replace(/\s+/g, " ").trim().toLowerCase();

/**
 * Runs one broker cycle. Never sends: the owner's send-approved is the only path to a message.
 * `flow` is the advice flow to drive (tests substitute one that fails or repeats on demand).
 */
export async function brokerTick(ctx: Ctx, input: z.input<typeof TickBody>, flow: AdviceFlow = brokerFlow): Promise<Result> {
  const opts = TickBody.parse(input);
  return opts.run_id ? runTick(ctx, opts, opts.run_id, flow) : freeTick(ctx, opts, flow);
}

/** Collects what one tick did, so it can be written in one transaction at the end. */
class TickLog {
  readonly result: Result;
  readonly events: Row[] = [];
  stop: Violation | null = null;
  /** A budget that ran out while work was still waiting; applied after this tick's work. */
  budgetStop: Violation | null = null;
  requests = 0;
  drafts = 0;
  errors = 0;
  duplicates = 0;
  active = false;

  constructor(
    private readonly ctx: Ctx,
    readonly run: BrokerRunRow | null,
    public consecutive: number,
  ) {
    this.result = {
      run_id: run?.id ?? null,
      processed: true,
      lease: null,
      candidates: 0,
      ingested: [],
      drafted: [],
      errors: [],
      conditions_met: [],
      stopped: null,
      sends: 0,
      run: null,
      event_id: null,
    };
  }

  /** Counts a failed step and stops the run when an error budget is exceeded. */
  error(step: string, message: string, extra: Record<string, unknown> = {}) {
    this.result.errors.push({ step, message });
    this.errors++;
    this.consecutive++;
    this.events.push(
      brokerEventValues(this.ctx, {
        kind: RUN_EVENT.error,
        runId: this.run?.id,
        adviceId: (extra.advice_id as string) ?? null,
        payload: { step, message, ...extra },
      }),
    );
    const run = this.run;
    if (!run) return;
    if (exceeds(run, "max_consecutive_errors", this.consecutive)) {
      this.stop ??= {
        reason: "max_consecutive_errors",
        detail: `${this.consecutive} errors in a row (at most ${limitOf(run, "max_consecutive_errors")}); last: ${step}: ${message}`,
      };
    } else if (exceeds(run, "max_errors_total", run.errorsTotal + this.errors)) {
      this.stop ??= {
        reason: "max_errors_total",
        detail: `${run.errorsTotal + this.errors} errors (at most ${limitOf(run, "max_errors_total")}); last: ${step}: ${message}`,
      };
    }
  }

  success() {
    this.consecutive = 0;
  }

  /**
   * A stop condition happened. Listed in the contract: the run stops. Not listed: it is recorded
   * and the run goes on (the item itself waits in the owner's queue either way).
   */
  condition(condition: StopCondition, reason: StopReason, detail: string, adviceId: string | null) {
    const run = this.run!;
    const stops = run.stopConditions.includes(condition) && this.stop === null;
    this.result.conditions_met.push({ condition, reason, detail, stopped: stops, advice_id: adviceId });
    if (stops) this.stop = { reason, detail };
    else this.events.push(conditionNotedValues(this.ctx, run.id, condition, detail, { reason, advice_id: adviceId }));
  }
}

/** A tick with no run: one pass over everything matching the filters, with no budgets. */
async function freeTick(ctx: Ctx, opts: TickOptions, flow: AdviceFlow): Promise<Result> {
  const log = new TickLog(ctx, null, 0);
  await ingestStep(ctx, log, flow, { project: opts.project, to_session: opts.to_session }, opts.batch);
  await draftStep(ctx, log, flow, opts.batch, actorOf(ctx.auth));
  log.result.event_id = await writeEvents(ctx, log);
  return log.result;
}

/** Writes what the tick collected and its own tick event; returns the tick event's id. */
async function writeEvents(ctx: Ctx, log: TickLog, tx: Pick<Ctx["db"], "insert"> = ctx.db): Promise<number> {
  if (log.events.length) await tx.insert(brokerEvents).values(log.events);
  const [e] = await tx.insert(brokerEvents).values(tickEvent(ctx, log)).returning({ id: brokerEvents.id });
  return e!.id;
}

function tickEvent(ctx: Ctx, log: TickLog): Row {
  const r = log.result;
  return brokerEventValues(ctx, {
    kind: RUN_EVENT.tick,
    runId: log.run?.id,
    payload: {
      holder: r.lease?.holder ?? actorOf(ctx.auth),
      candidates: r.candidates,
      ingested: r.ingested.length,
      drafted: r.drafted.filter((d) => d.state === "draft_ready").length,
      held_for_owner: r.drafted.filter((d) => d.state === "owner_input_required").length,
      errors: r.errors.length,
      conditions_met: r.conditions_met.map((c) => c.condition),
      stop_reason: log.stop?.reason ?? log.budgetStop?.reason ?? null,
    },
  });
}

/** Polls and ingests what the run's request budget allows (at most `batch`); notes a budget that ran out with work waiting. */
async function ingestStep(ctx: Ctx, log: TickLog, flow: AdviceFlow, filter: { project?: string; to_session?: string }, batch: number) {
  const run = log.run;
  const left = run ? remaining(run, "max_requests_total", run.requestsTotal) : Infinity;
  const want = Math.min(batch, left);
  let candidates;
  try {
    // One more than we may take, to learn whether work is waiting beyond the budget.
    candidates = await flow.candidates(ctx, { ...filter, limit: want + 1 });
  } catch (e) {
    log.error("poll", messageOf(e));
    return;
  }
  log.result.candidates = Math.min(candidates.length, want);
  for (const c of candidates.slice(0, want)) {
    if (log.stop) return;
    try {
      const got = await flow.ingest(ctx, c.message_id, run?.id ?? null);
      log.success();
      if (got.already_ingested) continue;
      log.requests++;
      log.active = true;
      log.result.ingested.push({ message_id: c.message_id, advice_id: got.advice_id, job_id: got.job_id });
    } catch (e) {
      log.error("ingest", messageOf(e), { message_id: c.message_id });
    }
  }
  if (run && candidates.length > want && want === left) {
    log.budgetStop ??= {
      reason: "max_requests_total",
      detail: `${run.requestsTotal + log.requests} requests ingested of at most ${limitOf(run, "max_requests_total")}, and more are waiting`,
    };
  }
}

/** Drafts what the run's draft budget allows (at most `batch`; only the run's jobs) and applies what came out. */
async function draftStep(ctx: Ctx, log: TickLog, flow: AdviceFlow, batch: number, processorId: string) {
  if (log.stop) return;
  const run = log.run;
  const left = run ? remaining(run, "max_drafts_total", run.draftsTotal) : Infinity;
  const want = Math.min(batch, left);
  // Without a run there is no budget to compare against, so the pass just takes what it finds.
  const queued = run ? await queuedJobs(ctx, run.id) : Infinity;
  let processed: Result["drafted"] = [];
  if (want > 0 && queued > 0) {
    try {
      processed = await flow.draft(ctx, { runId: run?.id ?? null, maxJobs: want, processorId });
    } catch (e) {
      log.error("draft", messageOf(e));
    }
  }
  const ready: string[] = [];
  for (const p of processed) {
    log.result.drafted.push({ job_id: p.job_id, advice_id: p.advice_id, state: p.state, policy_reason: p.policy_reason, error: p.error });
    if (p.state === "draft_ready") {
      log.success();
      log.drafts++;
      log.active = true;
      ready.push(p.advice_id);
    } else if (p.state === "owner_input_required") {
      log.success();
      if (!run) continue;
      const reason = p.policy_reason ?? "the policy layer held the request for the owner";
      if (RECIPIENT_BLOCK.test(reason))
        log.condition("ambiguous_or_unknown_recipient", "ambiguous_or_unknown_recipient", `advice ${p.advice_id}: ${reason}`, p.advice_id);
      else log.condition("owner_input_required", "owner_input_required", `advice ${p.advice_id}: ${reason}`, p.advice_id);
    } else if (p.error) {
      // Failed for good, or sent back to the queue for another attempt: either way a step failed.
      log.error("draft", p.error, { advice_id: p.advice_id, job_id: p.job_id });
    }
  }
  if (!run) return;
  await duplicateCheck(ctx, log, run, ready);
  if (run.mode === "scoped_auto_send") await approvalCheck(ctx, log, run, ready);
  if (queued > want && want === left) {
    log.budgetStop ??= {
      reason: "max_drafts_total",
      detail: `${run.draftsTotal + log.drafts} drafts of at most ${limitOf(run, "max_drafts_total")}, and more requests are queued`,
    };
  }
}

/** Queued jobs whose advice belongs to the run. */
async function queuedJobs(ctx: Ctx, runId: string): Promise<number> {
  const [row] = await ctx.db
    .select({ n: count() })
    .from(orchestratorJobs)
    .innerJoin(adviceRequests, eq(adviceRequests.id, orchestratorJobs.adviceId))
    .where(and(eq(adviceRequests.runId, runId), eq(orchestratorJobs.state, "queued")));
  return row?.n ?? 0;
}

/** Counts new drafts whose text repeats a draft the run already has, and stops past the limit. */
async function duplicateCheck(ctx: Ctx, log: TickLog, run: BrokerRunRow, ready: string[]) {
  if (!ready.length) return;
  const rows = await ctx.db
    .select({ id: adviceRequests.id, text: adviceRequests.draftText })
    .from(adviceRequests)
    .where(and(eq(adviceRequests.runId, run.id), isNotNull(adviceRequests.draftText)));
  const fresh = new Set(ready);
  const seen = new Map(rows.filter((r) => !fresh.has(r.id)).map((r) => [normalized(r.text!), r.id]));
  const textOf = new Map(rows.map((r) => [r.id, r.text]));
  for (const id of ready) {
    const text = textOf.get(id);
    if (text === null || text === undefined) continue;
    const earlier = seen.get(normalized(text));
    if (earlier === undefined) {
      seen.set(normalized(text), id);
      continue;
    }
    log.duplicates++;
    log.events.push(brokerEventValues(ctx, { kind: "duplicate_draft", runId: run.id, adviceId: id, payload: { same_as: earlier } }));
    if (exceeds(run, "max_duplicate_drafts", run.duplicateDrafts + log.duplicates)) {
      log.stop ??= {
        reason: "max_duplicate_drafts",
        detail: `${run.duplicateDrafts + log.duplicates} duplicate drafts (at most ${limitOf(run, "max_duplicate_drafts")}); advice ${id} repeats ${earlier}`,
      };
    }
  }
}

/**
 * A scoped_auto_send run may only ever send a draft covered by an exact approval token (live,
 * unused up, for this run, recipient and thread). The tick never sends, but it tells the owner
 * as soon as a draft is ready that no token would cover.
 */
async function approvalCheck(ctx: Ctx, log: TickLog, run: BrokerRunRow, ready: string[]) {
  const nowMs = ctx.now().getTime();
  for (const id of ready) {
    const [a] = await ctx.db.select().from(adviceRequests).where(eq(adviceRequests.id, id)).limit(1);
    if (!a) continue;
    const [token] = await ctx.db
      .select({ id: approvalTokens.id })
      .from(approvalTokens)
      .where(
        and(
          eq(approvalTokens.runId, run.id),
          eq(approvalTokens.toSession, a.requesterSessionId ?? ""),
          eq(approvalTokens.threadId, a.threadId),
          isNull(approvalTokens.revokedAt),
          lt(approvalTokens.uses, approvalTokens.maxUses),
          gt(approvalTokens.expiresAt, nowMs),
        ),
      )
      .limit(1);
    if (!token) log.condition("missing_approval", "missing_approval", `draft ${id} on thread ${a.threadId} has no valid approval token`, id);
  }
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** A tick of one run, under its lease. */
async function runTick(ctx: Ctx, opts: TickOptions, runId: string, flow: AdviceFlow): Promise<Result> {
  const contract = await runById(ctx, runId);
  for (const [flagName, given, scoped] of [
    ["project", opts.project, contract.project],
    ["to_session", opts.to_session, contract.targetSession],
  ] as const) {
    if (given !== undefined && scoped !== null && given !== scoped) {
      throw new ApiError("VALIDATION_FAILED", `run '${runId}' is scoped to ${flagName} '${scoped}', not '${given}'`, {
        hint: `Leave out --${flagName.replace("_", "-")}: a run's contract decides its scope.`,
        fields: [{ field: flagName, message: `the run is scoped to '${scoped}'` }],
      });
    }
  }
  const holder = opts.holder ?? actorOf(ctx.auth);
  const lease = await acquireRunLease(ctx, runId, holder, opts.lease_seconds * 1000);
  if (lease.kind === "held") throw leaseHeldError(lease.run);
  if (lease.kind === "not_running") {
    if (lease.run.state === "created") {
      throw new ApiError("CONFLICT", `run '${runId}' has not been started`, { hint: `The owner starts it with \`switchyard broker run-start ${runId}\`.` });
    }
    const nowMs = ctx.now().getTime();
    return {
      ...new TickLog(ctx, lease.run, 0).result,
      processed: false,
      stopped: { reason: lease.run.stopReason as StopReason, detail: `the run stopped at ${iso(lease.run.stoppedAt)}` },
      run: runToWire(lease.run, nowMs),
    };
  }
  const seen = await observedWork(ctx, runId);
  const run: BrokerRunRow = {
    ...lease.run,
    requestsTotal: Math.max(lease.run.requestsTotal, seen.requests),
    draftsTotal: Math.max(lease.run.draftsTotal, seen.drafts),
  };
  const log = new TickLog(ctx, run, run.consecutiveErrors);
  log.result.lease = { holder, expires_at: iso(run.leaseExpiresAt), taken_over_from: lease.takenOver ? lease.previousOwner : null, released: false };
  log.stop = timeViolation(run, ctx.now().getTime()) ?? overrun(run) ?? (await sendViolation(ctx, run));
  if (!log.stop) {
    await ingestStep(ctx, log, flow, { project: run.project ?? opts.project, to_session: run.targetSession ?? opts.to_session }, opts.batch);
    await draftStep(ctx, log, flow, opts.batch, holder);
  }
  const nowMs = ctx.now().getTime();
  const tickId = await withWriteTransaction(ctx.db, async (tx) => {
    await tx
      .update(brokerRuns)
      .set({
        // Absolute, not increments: the base already includes work done outside the run's ticks.
        requestsTotal: run.requestsTotal + log.requests,
        draftsTotal: run.draftsTotal + log.drafts,
        errorsTotal: sql`${brokerRuns.errorsTotal} + ${log.errors}`,
        duplicateDrafts: sql`${brokerRuns.duplicateDrafts} + ${log.duplicates}`,
        consecutiveErrors: log.consecutive,
        ...(log.active ? { lastActivityAt: nowMs } : {}),
        updatedAt: nowMs,
      })
      // Fenced by the lease: a holder whose lease expired mid-tick must not overwrite the counts
      // of the daemon that took over (its ingests and drafts are re-counted from the rows).
      .where(and(eq(brokerRuns.id, run.id), eq(brokerRuns.leaseOwner, holder)));
    return writeEvents(ctx, log, tx);
  });
  log.result.event_id = tickId;
  const stop = log.stop ?? log.budgetStop;
  if (stop) {
    const stopped = await stopRun(ctx, run.id, stop.reason, stop.detail, { payload: { holder }, leaseOwner: holder });
    // Null when the owner's kill switch got there first during this tick (report that stop
    // instead), or when this tick lost the lease to another daemon (which decides from now on).
    const final = stopped?.row ?? (await runById(ctx, run.id));
    if (stopped || final.state === "stopped") {
      log.result.stopped = stopped ? stop : { reason: final.stopReason as StopReason, detail: `the run was stopped during this tick (${final.stopReason})` };
      log.result.lease.released = true;
    }
  } else if (opts.release_lease) {
    await ctx.db
      .update(brokerRuns)
      .set({ leaseOwner: null, leaseExpiresAt: null })
      .where(and(eq(brokerRuns.id, run.id), eq(brokerRuns.leaseOwner, holder)));
    log.result.lease.released = true;
  }
  log.result.run = runToWire(await runById(ctx, run.id), ctx.now().getTime());
  return log.result;
}
