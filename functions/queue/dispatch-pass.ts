import { asc } from "drizzle-orm";
import { commands, type CommandType } from "../../schema/commands.ts";
import { executorsOf, runClaims, type BatchTail, type ClaimReport, type SettleTable } from "./run.ts";
import { claimableWhere, sweepAndClaim, sweepAndClaimStatements, type Claim, type ClaimGate, type ClaimScope, type ExpiryReport } from "./claim.ts";
import { drainScopeKey, leaseGate, standbyView, takeLeaseStatement, type DrainClaim, type DrainLease } from "./drain-lease.ts";
import { dbClaimPort, DEFAULT_LEASE_MS } from "./store.ts";
import type { CommandPolicy, Ctx, ExecutorTable } from "../lib/ctx.ts";
import { beatDispatcher, type HeartbeatThrottle } from "./dispatchers.ts";

/**
 * What the groups plug into every pass; the composition root (functions/executors.ts) builds it,
 * so the queue itself knows no group. `R` is what the routing step reports.
 */
export interface DispatchPlugins<R = unknown> {
  /** Executors by command type; a services override (ctx.executors) wins. */
  executors: ExecutorTable;
  /** Completion routing, run before the claim unless the pass is told not to route. */
  route(ctx: Ctx): Promise<R>;
  /** What to record once a command of a type succeeds (a stop marks its session gone). */
  settle?: SettleTable;
  /** Decides before each side effect whether a claimed command may run (manager permissions, loop guardrails). */
  policy?: CommandPolicy;
}

/** How one dispatch pass behaves. */
export interface DispatchOptions {
  dispatcherId: string;
  /** Lease per claim; a claim not finished within it is recovered (pending or ambiguous). */
  leaseMs?: number;
  /** Most commands claimed per pass. */
  limit?: number;
  /** Only these command types (default: every type this process has an executor for). */
  types?: readonly CommandType[];
  /** Route bound workers' completions to their managers first (default true; skipped in a dry run). */
  route?: boolean;
  /** Report what would be claimed, with payload validation, and change nothing. */
  dryRun?: boolean;
  /** First retry delay after a failed attempt (doubles per attempt). */
  retryBaseMs?: number;
  /** Recorded on the dispatcher's heartbeat row. */
  pid?: number | null;
  /** A looping dispatcher's throttle: the heartbeat row is written every few seconds, not every pass. */
  heartbeat?: HeartbeatThrottle;
  /**
   * A looping dispatcher that will run another pass at once (needs `heartbeat`): after a full
   * batch, claim the next one in the write that records this batch's last outcomes, for the
   * next pass to run (held in `heartbeat.next`). Whoever stops the loop runs one more pass
   * without it, so no claim is left held; a killed process's claims come back after one lease.
   */
  prefetch?: boolean;
  /**
   * A looping dispatcher's drain lease (needs `heartbeat`; see functions/queue/drain-lease.ts):
   * only the holder claims database-only commands; without the lease a pass claims only types
   * whose effect is outside the database, and writes nothing when none is due.
   */
  drain?: DrainLease;
}

/** What a dry run found claimable. */
interface WouldRun {
  command_id: string;
  type: CommandType;
  valid_payload: boolean;
  error: string | null;
  /** What the policy would refuse it for, or null when it would run. */
  policy_refusal: string | null;
}

/** One pass's report; also stored (without per-command results) as the dispatcher's last report. */
export interface DispatchReport<R = unknown> {
  dispatcher_id: string;
  iteration: number;
  dry_run: boolean;
  host: string | null;
  types: CommandType[];
  /** With a drain lease: whether this pass's claim held it (`held`) or stood by (`standby`); else null. */
  drain_lease: "held" | "standby" | null;
  expired: ExpiryReport | null;
  /** Completion routing of this pass; null when routing was skipped. */
  routing: R | null;
  claimed: number;
  succeeded: number;
  retrying: number;
  dead: number;
  failed: number;
  /** Of the failed: refused by the policy before any side effect. */
  refused: number;
  lost: number;
  results: Array<Omit<ClaimReport, "thrown">>;
  would_run: WouldRun[];
}

/**
 * One mechanical dispatch pass: recover expired leases, route bound workers' completions to
 * their managers, claim due commands this process can execute (host commands only for its own
 * host) and execute them one by one, then heartbeat (every few seconds with a throttle). Routing runs first so the notify commands
 * and inbox deliveries it creates can be picked up in the same pass. The `dispatch` CLI loops
 * over it; the dispatch-pass cron calls it once.
 */
export async function dispatchPass<R>(ctx: Ctx, plugins: DispatchPlugins<R>, opts: DispatchOptions): Promise<DispatchReport<R>> {
  const executors = executorsOf(ctx, plugins.executors);
  const types = (Object.keys(executors) as CommandType[]).filter((t) => !opts.types || opts.types.includes(t));
  const scope: ClaimScope = { types, host: ctx.host ? (ctx.hostName ?? null) : null };
  const dryRun = opts.dryRun ?? false;
  const report: DispatchReport<R> = {
    dispatcher_id: opts.dispatcherId,
    iteration: 0,
    dry_run: dryRun,
    host: scope.host,
    types,
    drain_lease: null,
    expired: null,
    routing: null,
    claimed: 0,
    succeeded: 0,
    retrying: 0,
    dead: 0,
    failed: 0,
    refused: 0,
    lost: 0,
    results: [],
    would_run: [],
  };
  const limit = opts.limit ?? 20;
  if (dryRun) {
    const due = await ctx.db
      .select()
      .from(commands)
      .where(claimableWhere(scope, ctx.now().getTime()))
      .orderBy(asc(commands.createdAt), asc(commands.id))
      .limit(limit);
    for (const c of types.length ? due : []) {
      const parsed = executors[c.type]!.payload.safeParse(c.payload);
      const refusal = parsed.success && plugins.policy ? await plugins.policy(ctx, c) : null;
      report.would_run.push({
        command_id: c.id,
        type: c.type,
        valid_payload: parsed.success,
        error: parsed.success ? null : parsed.error.message,
        policy_refusal: refusal?.reason ?? null,
      });
    }
  } else {
    if (opts.route ?? true) report.routing = await plugins.route(ctx);
    const loop = opts.heartbeat;
    const drain = loop ? opts.drain : undefined;
    const lease: DrainClaim | undefined = drain && {
      key: drainScopeKey(scope),
      holder: opts.dispatcherId,
      ttlMs: drain.ttlMs,
      freeTypes: types.filter((t) => !executors[t]!.plan),
    };
    if (drain && lease) drain.key = lease.key;
    // The lease is taken or renewed in the claim write itself: no round trip of its own.
    const gate: ClaimGate | undefined = lease && ((nowMs) => ({ stmt: takeLeaseStatement(ctx, lease, nowMs), where: leaseGate(lease, nowMs) }));
    const claimOpts = { ...scope, dispatcherId: opts.dispatcherId, leaseMs: opts.leaseMs ?? DEFAULT_LEASE_MS, limit, gate };
    // The lease sweep rides in the claim's batch: one write transaction and one round trip. A
    // looping dispatcher sweeps once a second at most (HeartbeatThrottle.sweepDue); a lone pass always.
    let claims: Claim[] = [];
    if (loop && loop.next.length > 0) {
      // Claimed at the end of the previous pass, in the write that recorded its outcomes.
      claims = loop.next;
      loop.next = [];
    } else {
      // A standby reads first and writes only when the lease is free or a command of its own is due.
      const view = drain && lease && !drain.held ? await standbyView(ctx, scope, lease, ctx.now().getTime()) : null;
      if (!view || view.free || view.freeDue) {
        const sweep = loop ? loop.sweepDue(ctx.now().getTime()) : true;
        const claimed = await sweepAndClaim(ctx, claimOpts, { sweep });
        claims = claimed.claims;
        if (drain) drain.held = (claimed.gate?.length ?? 0) > 0;
        // Null when this pass did not sweep.
        report.expired = sweep ? claimed.expired : null;
      }
    }
    if (drain) report.drain_lease = drain.held ? "held" : "standby";
    report.claimed = claims.length;
    // A full batch suggests more is waiting: with `prefetch`, the next batch is claimed in the
    // same write as this batch's last outcomes (when it ends with database-only effects).
    let next: ReturnType<typeof sweepAndClaimStatements> | undefined;
    let nextSweeps = false;
    const tail: BatchTail | undefined =
      loop && opts.prefetch && claims.length >= limit
        ? {
            stmts: () => {
              nextSweeps = loop.sweepDue(ctx.now().getTime());
              next = sweepAndClaimStatements(ctx, claimOpts, { sweep: nextSweeps });
              return next.stmts;
            },
          }
        : undefined;
    const port = dbClaimPort(ctx, { queue: { retryBaseMs: opts.retryBaseMs }, settle: plugins.settle });
    const policy = plugins.policy;
    const claimPolicy = policy ? (cmd: Parameters<CommandPolicy>[1]) => policy(ctx, cmd) : undefined;
    const results = await runClaims(ctx, claims, (c) => executors[c.command.type]!, port, claimPolicy, tail);
    if (loop && next && tail?.results) {
      const got = next.read(tail.results);
      loop.next = got.claims;
      if (drain) drain.held = (got.gate?.length ?? 0) > 0;
      if (nextSweeps) {
        const before = report.expired;
        report.expired = before
          ? {
              ambiguous: [...before.ambiguous, ...got.expired.ambiguous],
              pending: [...before.pending, ...got.expired.pending],
              dead: [...before.dead, ...got.expired.dead],
            }
          : got.expired;
      }
    }
    for (const r of results) {
      const { thrown: _thrown, ...wire } = r;
      report.results.push(wire);
      if (r.error) ctx.log.warn("dispatch attempt did not succeed", { dispatcher_id: opts.dispatcherId, ...wire });
      if (r.state === "succeeded") report.succeeded++;
      else if (r.state === "pending") report.retrying++;
      else if (r.state === "dead") report.dead++;
      else if (r.state === "lost") report.lost++;
      else report.failed++;
      if (r.policy_refused) report.refused++;
    }
  }
  const { results: _results, would_run: _wouldRun, iteration: _iteration, ...summary } = report;
  const throttle = opts.heartbeat;
  const nowMs = ctx.now().getTime();
  if (throttle && !throttle.due(nowMs)) {
    report.iteration = throttle.defer(report.claimed);
  } else {
    const pending = throttle?.pending ?? { passes: 0, processed: 0 };
    const beat = await beatDispatcher(ctx, {
      id: opts.dispatcherId,
      pid: opts.pid ?? null,
      dryRun,
      processed: report.claimed + pending.processed,
      passes: 1 + pending.passes,
      report: summary,
    });
    throttle?.beaten(nowMs, beat.iteration);
    report.iteration = beat.iteration;
  }
  return report;
}
