import { DISPATCH_PLUGINS } from "../functions/executors.ts";
import { makeCtx, type Services } from "../functions/lib/ctx.ts";
import { dispatchPass, type DispatchOptions, type DispatchReport } from "../functions/queue/dispatch-pass.ts";
import { HeartbeatThrottle, startDispatcher, stopDispatcher } from "../functions/queue/dispatchers.ts";
import { DRAIN_LEASE_MS, DrainLease, releaseDrainLease } from "../functions/queue/drain-lease.ts";
import { pause } from "./pause.ts";

/** How a dispatcher process loops. */
export interface DispatchLoopOptions extends Omit<DispatchOptions, "pid" | "drain"> {
  /** Stop after this many passes (`--once` is 1); unbounded when absent. */
  iterations?: number;
  /** Pause between passes that found nothing more to claim. */
  intervalMs: number;
  /** Aborted by SIGINT/SIGTERM: the pass in flight finishes, then the loop stops. */
  signal?: AbortSignal;
  onPass?: (report: DispatchReport) => void;
  onError?: (error: Error) => void;
  /**
   * How long this dispatcher's drain lease lasts unrenewed (default DRAIN_LEASE_MS), or false for
   * none. A loop of one pass (`--once`) never takes one: it would either stand by and do nothing
   * or hold the others off for nothing. Not scaled by the interval: a draining holder renews in
   * every pass (full batches run back to back), and an idle one that polls rarely should lose the
   * lease while it sleeps, not keep faster standbys off database-only commands for its interval
   * (or three of them once it is dead).
   */
  drainLeaseMs?: number | false;
}

/** How a dispatcher run ended. */
export interface DispatchLoopResult {
  passes: number;
  processed: number;
  failed_passes: number;
  stopped_by: "iterations" | "signal";
}

/**
 * Runs dispatch passes as one dispatcher process: registers it (running), loops until the
 * iteration bound or the signal, and marks it stopped on the way out. A pass that claimed a full
 * batch is followed at once by the next, so a backlog drains without waiting for the interval.
 * A failed pass (e.g. the database was unreachable) is reported and retried after the interval.
 */
export async function runDispatchLoop(services: Services, opts: DispatchLoopOptions): Promise<DispatchLoopResult> {
  const ctx = makeCtx(services, { kind: "daemon", tokenId: `dispatcher:${opts.dispatcherId}` });
  const pid = process.pid;
  await startDispatcher(ctx, { id: opts.dispatcherId, pid, dryRun: opts.dryRun ?? false });
  const result: DispatchLoopResult = { passes: 0, processed: 0, failed_passes: 0, stopped_by: "signal" };
  const heartbeat = new HeartbeatThrottle();
  const drain = opts.drainLeaseMs === false || opts.iterations === 1 || opts.dryRun ? undefined : new DrainLease(opts.drainLeaseMs ?? DRAIN_LEASE_MS);
  try {
    while (!opts.signal?.aborted) {
      let full = false;
      // The next batch is claimed ahead only when another pass is sure to follow.
      const prefetch = opts.iterations === undefined || result.passes + 1 < opts.iterations;
      try {
        const report = await dispatchPass(ctx, DISPATCH_PLUGINS, { ...opts, pid, heartbeat, prefetch, drain });
        result.processed += report.claimed;
        full = report.claimed >= (opts.limit ?? 20);
        opts.onPass?.(report);
      } catch (e) {
        result.failed_passes++;
        opts.onError?.(e as Error);
      }
      result.passes++;
      if (opts.iterations !== undefined && result.passes >= opts.iterations) {
        result.stopped_by = "iterations";
        break;
      }
      if (!full) await pause(opts.intervalMs, opts.signal);
    }
    // Stopped with a batch claimed ahead: run it rather than leave it held until its lease ends
    // (a pass that cannot run it is not retried forever; the lease then brings it back).
    for (let tries = 0; heartbeat.next.length > 0 && tries < 3; tries++) {
      try {
        const report = await dispatchPass(ctx, DISPATCH_PLUGINS, { ...opts, pid, heartbeat, prefetch: false, drain });
        result.processed += report.claimed;
        opts.onPass?.(report);
      } catch (e) {
        result.failed_passes++;
        opts.onError?.(e as Error);
      }
      result.passes++;
    }
  } finally {
    // Handed over at once rather than after its expiry: a standby takes it on its next pass.
    if (drain?.held && drain.key !== null) await releaseDrainLease(ctx, drain.key, opts.dispatcherId).catch((e: Error) => opts.onError?.(e));
    await stopDispatcher(ctx, opts.dispatcherId, pid, heartbeat.pending).catch((e: Error) => opts.onError?.(e));
  }
  return result;
}
