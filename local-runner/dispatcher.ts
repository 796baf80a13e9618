import { DISPATCH_PLUGINS } from "../functions/executors.ts";
import { makeCtx, type Services } from "../functions/lib/ctx.ts";
import { dispatchPass, type DispatchOptions, type DispatchReport } from "../functions/queue/dispatch-pass.ts";
import { BatchGrowth } from "../functions/queue/batch-growth.ts";
import { HeartbeatThrottle, startDispatcher, stopDispatcher } from "../functions/queue/dispatchers.ts";
import { DEFAULT_LEASE_MS } from "../functions/queue/store.ts";
import { pause } from "./pause.ts";

/** How a dispatcher process loops. */
export interface DispatchLoopOptions extends Omit<DispatchOptions, "pid"> {
  /** Stop after this many passes (`--once` is 1); unbounded when absent. */
  iterations?: number;
  /** Pause between passes that found nothing more to claim. */
  intervalMs: number;
  /** Aborted by SIGINT/SIGTERM: the pass in flight finishes, then the loop stops. */
  signal?: AbortSignal;
  onPass?: (report: DispatchReport) => void;
  onError?: (error: Error) => void;
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
 * While claims keep coming back full, the batches of database-only effects grow from `limit` up
 * to a cap (BatchGrowth), so a deep backlog costs fewer writes under SQLite's one writer lock.
 */
export async function runDispatchLoop(services: Services, opts: DispatchLoopOptions): Promise<DispatchLoopResult> {
  const ctx = makeCtx(services, { kind: "daemon", tokenId: `dispatcher:${opts.dispatcherId}` });
  const pid = process.pid;
  await startDispatcher(ctx, { id: opts.dispatcherId, pid, dryRun: opts.dryRun ?? false });
  const result: DispatchLoopResult = { passes: 0, processed: 0, failed_passes: 0, stopped_by: "signal" };
  const heartbeat = new HeartbeatThrottle();
  const growth = new BatchGrowth(opts.limit ?? 20, { leaseMs: opts.leaseMs ?? DEFAULT_LEASE_MS });
  try {
    while (!opts.signal?.aborted) {
      let full = false;
      // The next batch is claimed ahead only when another pass is sure to follow.
      const prefetch = opts.iterations === undefined || result.passes + 1 < opts.iterations;
      try {
        const report = await dispatchPass(ctx, DISPATCH_PLUGINS, { ...opts, pid, heartbeat, prefetch, growth });
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
      if (!full && !growth.narrowedShort) await pause(opts.intervalMs, opts.signal);
    }
    // Stopped with a batch claimed ahead: run it rather than leave it held until its lease ends
    // (a pass that cannot run it is not retried forever; the lease then brings it back).
    for (let tries = 0; heartbeat.next.length > 0 && tries < 3; tries++) {
      try {
        const report = await dispatchPass(ctx, DISPATCH_PLUGINS, { ...opts, pid, heartbeat, prefetch: false, growth });
        result.processed += report.claimed;
        opts.onPass?.(report);
      } catch (e) {
        result.failed_passes++;
        opts.onError?.(e as Error);
      }
      result.passes++;
    }
  } finally {
    await stopDispatcher(ctx, opts.dispatcherId, pid, heartbeat.pending).catch((e: Error) => opts.onError?.(e));
  }
  return result;
}
