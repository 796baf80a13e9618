import { VERDICT_EXIT } from "../../functions/verdicts/states.ts";
import { err, errorText, out, withTransport } from "./api-call.ts";
import { parseDuration } from "./coordination-commands.ts";
import { pos, str, UsageError, type Args, type CommandSpec } from "./spec.ts";

const enc = encodeURIComponent;

function verdictText(v: any): string {
  const who = v.resolved
    ? ` (${v.resolved.task ? `task ${v.resolved.task}, ` : ""}worker ${v.resolved.worker}${v.resolved.cwd ? ` in ${v.resolved.cwd}` : ""})`
    : "";
  return [`${v.target}: ${v.state}${who}, decided by ${v.decided_by}`, ...v.reasons.map((r: string) => `  - ${r}`), `next: ${v.next_action}`].join("\n");
}

function statusRequest(target: string, a: Args) {
  return { method: "GET" as const, path: `/dispatch-status/${enc(target)}`, query: { base: str(a, "base") } };
}

/** Verdict exit code: done 0, running 0 for a one-shot status, failed 3, gone 4, unresolved 5. */
function exitFor(state: string): number {
  return state === "running" ? 0 : ((VERDICT_EXIT as Record<string, number>)[state] ?? 1);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** dispatch-status, dispatch watch and harvest. */
export const VERDICT_COMMANDS: CommandSpec[] = [
  {
    name: "dispatch-status",
    group: "coordination",
    summary: "One evidence-based verdict for a task or worker (exit 0 done/running, 3 failed, 4 worker-process-gone, 5 unresolved)",
    positionals: [{ name: "TARGET", required: true, description: "Task name or worker session name" }],
    options: { base: { type: "string", value: "REF", description: "The ref the worker branched from (default main)" } },
    local: (a, g) =>
      withTransport(g, async (t) => {
        const res = await t.send(statusRequest(pos(a, 0)!, a));
        if (res.status !== 200) {
          err(errorText(res));
          return 1;
        }
        out(g.json ? JSON.stringify(res.body, null, 2) : verdictText(res.body));
        return exitFor(res.body.state);
      }),
  },
  {
    name: "dispatch watch",
    group: "coordination",
    summary: "Block until a dispatch has a verdict: exit 0 done, 2 timeout, 3 failed, 4 worker-process-gone, 5 unresolved",
    positionals: [{ name: "TARGET", required: true, description: "Task name or worker session name" }],
    options: {
      interval: { type: "string", value: "DURATION", description: "Between checks (default 60s, or --timeout when shorter)" },
      timeout: { type: "string", value: "DURATION", description: "Give up (exit 2) after this long (default 90m)" },
      base: { type: "string", value: "REF", description: "The ref the worker branched from (default main)" },
    },
    examples: ["switchyard dispatch watch auth-refactor --interval 30s --timeout 2h --base main", 'switchyard dispatch watch w1 --json || echo "exit $?"'],
    local: async (a, g) => {
      const target = pos(a, 0)!;
      const timeout = parseDuration(str(a, "timeout") ?? "90m", "timeout");
      // The default interval shrinks to a short --timeout; only one given longer is a mistake.
      const given = str(a, "interval");
      const interval = given === undefined ? Math.min(60, timeout) : parseDuration(given, "interval");
      if (interval > timeout) throw new UsageError("--interval must not exceed --timeout");
      const deadline = Date.now() + timeout * 1000;
      return withTransport(g, async (t) => {
        let last: any = null;
        for (;;) {
          const res = await t.send(statusRequest(target, a));
          if (res.status !== 200) {
            err(errorText(res));
            return 1;
          }
          const v = res.body;
          if (!g.json && v.state !== last?.state) out(`${new Date().toISOString()} ${verdictText(v)}`);
          last = v;
          if (v.state !== "running") {
            if (g.json) out(JSON.stringify(v, null, 2));
            return exitFor(v.state);
          }
          if (Date.now() + interval * 1000 > deadline) {
            await sleep(Math.max(0, deadline - Date.now()));
            const finalRes = await t.send(statusRequest(target, a));
            const fv = finalRes.status === 200 ? finalRes.body : last;
            if (fv.state !== "running") {
              if (g.json) out(JSON.stringify(fv, null, 2));
              else out(verdictText(fv));
              return exitFor(fv.state);
            }
            if (g.json) out(JSON.stringify({ ...fv, timed_out: true }, null, 2));
            else out(`timeout after ${timeout}s: ${target} is still running`);
            return VERDICT_EXIT.timeout;
          }
          await sleep(interval * 1000);
        }
      });
    },
  },
  {
    name: "harvest",
    group: "coordination",
    summary: "Commit a dead worker's uncommitted work on its branch (with a marker) and release its claims; never deletes or resets",
    positionals: [{ name: "TARGET", required: true, description: "Task name or worker session name" }],
    options: {
      orphaned: { type: "boolean", description: "Required: confirms the worker's process is gone (the verdict is re-checked)" },
      base: { type: "string", value: "REF", description: "The ref the worker branched from (default main)" },
    },
    request: (a) => {
      if (a.values.orphaned !== true) throw new UsageError("harvest needs --orphaned: it recovers only a worker whose process is gone");
      return { method: "POST", path: `/harvest/${enc(pos(a, 0)!)}`, body: { orphaned: true, base: str(a, "base") } };
    },
    render: (b) =>
      b.committed
        ? `harvested ${b.files.length} file(s) of ${b.worker} as ${b.sha} on ${b.branch ?? "HEAD"} in ${b.cwd}; released ${b.claims_released.length} claim(s)`
        : `nothing uncommitted in ${b.cwd}; released ${b.claims_released.length} claim(s)`,
  },
];
