import { PANE_EXECUTORS } from "../functions/actuate/pane-executors.ts";
import { runClaims, type ClaimPort, type ClaimReport } from "../functions/queue/run.ts";
import type { RunnerCommandType } from "../functions/queue/claim.ts";
import type { HostCtx } from "../functions/lib/ctx.ts";
import { commandFromWire, type commandToWire } from "../functions/queue/store.ts";
import { ApiError } from "../functions/lib/errors.ts";
import type { Host } from "../functions/lib/host.ts";
import { HttpTransport } from "./cli/transport.ts";
import type { Logger } from "../functions/lib/ctx.ts";
import { pause } from "./pause.ts";

/** How a remote runner process behaves. */
export interface RunnerOptions {
  url: string;
  token: string;
  /** The machine this runner executes for; must be the host its runner token is scoped to. */
  hostName: string;
  host: Host;
  runnerId: string;
  limit: number;
  leaseSeconds: number;
  intervalMs: number;
  /** Stop after this many claim rounds; unbounded when absent. */
  iterations?: number;
  signal?: AbortSignal;
  log: Logger;
  onResult?: (r: Omit<ClaimReport, "thrown">) => void;
}

/** The runner was started with settings that can never work (e.g. a token for another host). */
export class RunnerConfigError extends Error {}

/** A claim as the server returns it. */
interface WireClaim {
  command: ReturnType<typeof commandToWire>;
  generation: number;
  attempt_id: string;
}

/** Raised when the server answers a runner call with an error envelope. */
function apiErrorOf(status: number, body: any): ApiError {
  const e = body?.error ?? {};
  const code = typeof e.code === "string" ? e.code : status === 409 ? "CONFLICT" : "INTERNAL";
  return new ApiError(code, e.message ?? `HTTP ${status}`, { hint: e.hint });
}

/** Whether an answer is Switchyard's refusal of the token (its error envelope), not a proxy's page. */
function refusedToken(body: any): boolean {
  const code = body?.error?.code;
  return code === "UNAUTHENTICATED" || code === "FORBIDDEN";
}

/**
 * A runner: claims its host's commands from a server over HTTP, executes them with the local
 * Host and the shared executors, and reports each attempt. The server scopes every call to the
 * token's host; the fencing generation travels with each report, so a runner whose lease ran
 * out cannot overwrite a newer claim's outcome.
 */
export async function runRunner(opts: RunnerOptions): Promise<{ rounds: number; executed: number }> {
  const http = new HttpTransport(opts.url, opts.token);
  const ctx: HostCtx = { host: opts.host, hostName: opts.hostName, now: () => new Date(), log: opts.log };
  const port: ClaimPort = {
    async started(claim) {
      const res = await http.send({ method: "POST", path: `/runner/attempts/${encodeURIComponent(claim.attemptId)}/started` });
      if (res.status === 200) return true;
      if (res.status === 409) return false;
      throw apiErrorOf(res.status, res.body);
    },
    async finish(claim, outcome) {
      const body = outcome.ok
        ? { attempt_id: claim.attemptId, generation: claim.generation, ok: true, result: outcome.result }
        : {
            attempt_id: claim.attemptId,
            generation: claim.generation,
            ok: false,
            error: outcome.error,
            result: outcome.result,
            side_effect_completed: outcome.sideEffectCompleted,
            invalid_payload: outcome.permanent,
          };
      const res = await http.send({ method: "POST", path: `/runner/commands/${encodeURIComponent(claim.command.id)}/complete`, body });
      // 409: the lease ran out and the command moved on; the newer state stands.
      if (res.status === 409) return null;
      if (res.status !== 200) throw apiErrorOf(res.status, res.body);
      return res.body.command.state;
    },
  };
  let rounds = 0;
  let executed = 0;
  while (!opts.signal?.aborted) {
    let claims: WireClaim[] = [];
    try {
      const res = await http.send({
        method: "POST",
        path: "/runner/claim",
        body: { runner_id: opts.runnerId, limit: opts.limit, lease_seconds: opts.leaseSeconds },
      });
      if ((res.status === 401 || res.status === 403) && refusedToken(res.body)) {
        // A wrong, revoked or non-runner token never starts working: retrying would only log
        // the refusal every round while the host's commands wait. Only Switchyard's own refusal
        // counts: a proxy's 403 page in front of a restarting server is retried like any error.
        const why = apiErrorOf(res.status, res.body).message;
        throw new RunnerConfigError(
          `the server refused the runner's token (${res.status}: ${why}); mint one for this machine on the server: switchyard token mint --scope runner --host ${opts.hostName}`,
        );
      }
      if (res.status !== 200) throw apiErrorOf(res.status, res.body);
      if (res.body.host !== opts.hostName) {
        // Executing another machine's commands here would act on the wrong tmux server; the
        // claims just taken expire unstarted and go back to pending.
        throw new RunnerConfigError(`the runner token is scoped to host '${res.body.host}', but --host is '${opts.hostName}'`);
      }
      claims = res.body.claims;
    } catch (e) {
      if (e instanceof RunnerConfigError) throw e;
      // The server may be restarting; the next round tries again.
      opts.log.warn("runner claim failed", { error: (e as Error).message });
    }
    for (const c of claims) {
      const claim = { command: commandFromWire(c.command), generation: c.generation, attemptId: c.attempt_id };
      const executor = PANE_EXECUTORS[claim.command.type as RunnerCommandType];
      let report: ClaimReport;
      try {
        [report] = (await runClaims(ctx, [claim], () => executor, port)) as [ClaimReport];
      } catch (e) {
        // The server could not be reached mid-attempt; the lease decides what happens next.
        report = {
          command_id: claim.command.id,
          type: claim.command.type,
          generation: claim.generation,
          state: "lost",
          error: (e as Error).message,
          side_effect_started: true,
        };
      }
      const { thrown: _thrown, ...wire } = report;
      executed++;
      opts.onResult?.(wire);
    }
    rounds++;
    if (opts.iterations !== undefined && rounds >= opts.iterations) break;
    if (claims.length < opts.limit) {
      await pause(opts.intervalMs, opts.signal);
    }
  }
  return { rounds, executed };
}
