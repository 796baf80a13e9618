import type { ApiRequest, ApiResponse } from "../cli/transport.ts";
import { pause } from "../pause.ts";

/** How the daemon loop ended. */
export interface DaemonExit {
  code: 0 | 1;
  reason: "run_stopped" | "signal" | "max_ticks" | "refused";
  detail: string;
}

/** What one `broker daemon` process runs: which run, as whom, how often, and how it talks to the API. */
export interface DaemonLoopOptions {
  runId: string;
  project?: string;
  toSession?: string;
  /** Lease owner id; two daemons on one run must use different ids. */
  daemonId: string;
  intervalMs: number;
  leaseSeconds: number;
  /** Stop after this many ticks (tests, one-off catch-up runs); default: until the run stops. */
  maxTicks?: number;
  send(req: ApiRequest): Promise<ApiResponse>;
  /** One JSON line per tick and per decision: the daemon's log. */
  emit(line: Record<string, unknown>): void;
  signal: AbortSignal;
}

const errorOf = (res: ApiResponse) => res.body?.error ?? { code: "INTERNAL", message: `HTTP ${res.status}` };

/**
 * Refuses to run with anything but a daemon token. An owner token would let the daemon approve
 * and send; with a daemon token the API itself refuses those, whatever this code does.
 */
async function checkPrincipal(opts: DaemonLoopOptions): Promise<DaemonExit | null> {
  const owner = await opts.send({ method: "GET", path: "/tokens" });
  if (owner.status === 200) {
    return {
      code: 1,
      reason: "refused",
      detail: "this is an owner token; the daemon must run with a daemon token (switchyard token mint --scope daemon) so it can never approve or send",
    };
  }
  const run = await opts.send({ method: "GET", path: `/broker/runs/${encodeURIComponent(opts.runId)}` });
  if (run.status !== 200) {
    const e = errorOf(run);
    return { code: 1, reason: "refused", detail: `cannot read run ${opts.runId}: ${e.code}: ${e.message}` };
  }
  return null;
}

/**
 * The long-running `broker daemon`: ticks the run every interval under its lease until the run
 * stops or a signal arrives. While another daemon holds the lease it only waits and retries, so
 * it takes over once that lease expires. On the way out it gives its lease back.
 */
export async function runDaemonLoop(opts: DaemonLoopOptions): Promise<DaemonExit> {
  const refused = await checkPrincipal(opts);
  if (refused) {
    opts.emit({ event: "refused", detail: refused.detail });
    return refused;
  }
  opts.emit({ event: "daemon_started", run_id: opts.runId, daemon_id: opts.daemonId, interval_ms: opts.intervalMs, lease_seconds: opts.leaseSeconds });
  let holding = false;
  let exit: DaemonExit | null = null;
  for (let tick = 1; !exit; tick++) {
    if (opts.signal.aborted) {
      exit = { code: 0, reason: "signal", detail: "stopped by signal" };
      break;
    }
    const res = await opts.send({
      method: "POST",
      path: "/broker/tick",
      body: { run_id: opts.runId, project: opts.project, to_session: opts.toSession, holder: opts.daemonId, lease_seconds: opts.leaseSeconds },
    });
    if (res.status === 200) {
      const b = res.body;
      holding = b.processed && !b.stopped;
      opts.emit({
        event: "tick",
        tick,
        processed: b.processed,
        ingested: b.ingested.length,
        drafted: b.drafted.filter((d: { state: string }) => d.state === "draft_ready").length,
        errors: b.errors.length,
        lease_expires_at: b.lease?.expires_at ?? null,
        taken_over_from: b.lease?.taken_over_from ?? null,
        stopped: b.stopped,
      });
      if (b.stopped) exit = { code: 0, reason: "run_stopped", detail: `run ${opts.runId} stopped: ${b.stopped.reason}` };
    } else {
      const e = errorOf(res);
      holding = false;
      opts.emit({ event: "tick_refused", tick, status: res.status, code: e.code, message: e.message });
      // Auth and missing-run failures will not heal by waiting; a held lease or an unstarted run may.
      if (res.status === 401 || res.status === 403 || res.status === 404) exit = { code: 1, reason: "refused", detail: `${e.code}: ${e.message}` };
    }
    if (!exit && opts.maxTicks !== undefined && tick >= opts.maxTicks) exit = { code: 0, reason: "max_ticks", detail: `ran ${tick} tick(s)` };
    if (!exit) await pause(opts.intervalMs, opts.signal);
  }
  if (holding) {
    const r = await opts.send({ method: "POST", path: `/broker/runs/${encodeURIComponent(opts.runId)}/release-lease`, body: { holder: opts.daemonId } });
    opts.emit({ event: "lease_released", ok: r.status === 200 });
  }
  opts.emit({ event: "daemon_exit", ...exit });
  return exit;
}
