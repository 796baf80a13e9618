import type { CommandType } from "../../schema/commands.ts";
import { COMMAND_STATES, COMMAND_TYPES, HOST_ENQUEUE_TYPES } from "../../schema/enums.ts";
import { DEFAULT_DISPATCHER_ID } from "../../functions/app-loop/defaults.ts";
import type { DispatchReport } from "../../functions/queue/dispatch-pass.ts";
import { resolveHome } from "../home.ts";
import { inline } from "./format.ts";
import { terminalSafe } from "./output.ts";
import { readTokenFile } from "./token-file.ts";
import { answerWithinSeconds } from "./transport.ts";
import { flag, int, list, pos, req, str, UsageError, type Args, type CommandSpec, type OptionSpec } from "./spec.ts";

import { nextPageHintFor, pageOptions, pageQuery } from "./paging.ts";

const enc = encodeURIComponent;

const enqueueOptions: Record<string, OptionSpec> = {
  message: { type: "string", value: "TEXT", description: "The message (required)" },
  "correlation-id": { type: "string", value: "ID", description: "Threads this message with related ones" },
  "required-permission": { type: "string", value: "P", description: "Permission the target must hold" },
  "idempotency-key": { type: "string", value: "K", description: "A retry with the same key returns the existing command" },
  "max-attempts": { type: "string", value: "N", description: "Attempts before the command is dead (default 5)" },
};

function enqueueCommand(name: string, path: string, target: string): CommandSpec {
  return {
    name,
    summary: `Queue a message for the task's bound ${target}; a dispatcher delivers it`,
    positionals: [{ name: "TASK", required: true, description: "Task name" }],
    options: enqueueOptions,
    examples: [`switchyard ${name} auth-refactor --message "tests are green" --idempotency-key auth-green-1`],
    request: (a) => ({
      method: "POST",
      path: `/tasks/${enc(pos(a, 0)!)}/${path}`,
      body: {
        message: req(a, "message"),
        correlation_id: str(a, "correlation-id"),
        required_permission: str(a, "required-permission"),
        idempotency_key: str(a, "idempotency-key"),
        max_attempts: int(a, "max-attempts", { min: 1 }),
      },
    }),
    render: (b) => `${b.created ? "queued" : "already queued"} ${b.command.type} ${b.command_id} for ${b.target_session} (state ${b.command.state})`,
  };
}

function commandLine(c: any): string {
  const extra = [c.task_id && `task=${c.task_id}`, c.host && `host=${c.host}`, c.next_attempt_at && `next=${c.next_attempt_at}`, c.error && `error=${c.error}`]
    .filter(Boolean)
    .join(" ");
  return `${c.id} ${c.type.padEnd(14)} ${c.state.padEnd(9)} attempts=${c.attempts}/${c.max_attempts} gen=${c.claim_generation} ${extra}`;
}

function attemptLine(t: any): string {
  return `    ${t.started_at} ${t.dispatcher_id} gen=${t.claim_generation} started=${t.side_effect_started} completed=${t.side_effect_completed}${t.error ? ` error=${t.error}` : ""}`;
}

function passLine(r: DispatchReport): string {
  const expired = r.expired ? r.expired.pending.length + r.expired.ambiguous.length + r.expired.dead.length : 0;
  if (r.dry_run)
    return `pass ${r.iteration} (dry run): would run ${r.would_run.length} [${r.would_run.map((w) => `${w.command_id}${w.valid_payload ? "" : " INVALID"}${w.policy_refusal ? ` REFUSED (${w.policy_refusal})` : ""}`).join(", ")}]`;
  // A standby claims only commands with external effects while another dispatcher holds the drain lease.
  const standby = r.drain_lease === "standby" ? " (standby: another dispatcher drains)" : "";
  return `pass ${r.iteration}${standby}: claimed ${r.claimed}, succeeded ${r.succeeded}, retrying ${r.retrying}, dead ${r.dead}, failed ${r.failed}, lost ${r.lost}, expired leases ${expired}${r.routing ? `, routing ${inline(r.routing)}` : ""}`;
}

/** `--type worker_task_complete` selects completion routing; the other values are command types. */
const ROUTING_TYPE = "worker_task_complete";

/** Resolves --type values (its choices are checked already): which command types to run, and whether to route completions. */
function types(a: Args): { types?: CommandType[]; route: boolean } {
  const t = list(a, "type");
  if (!t.length) return { route: true };
  return { types: t.filter((v) => v !== ROUTING_TYPE) as CommandType[], route: t.includes(ROUTING_TYPE) };
}

/** Runs `fn` with an AbortSignal that SIGINT/SIGTERM abort, removing the handlers afterwards. */
async function untilSignal<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    return await fn(ac.signal);
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

/** The durable command queue: enqueue, dispatch, list, requeue, and the remote runner. */
/**
 * `--interval` of the looping commands: plain decimal seconds in a range a loop can sleep (a
 * Node timer beyond 2^31 ms fires at once, and 0 would spin on an idle queue).
 */
function idleInterval(a: Args): number {
  const text = str(a, "interval");
  if (text === undefined) return 2;
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || n < 0.05 || n > 3600) {
    throw new UsageError(`--interval must be a number of seconds from 0.05 to 3600, got '${text}'`);
  }
  return n;
}

export const DISPATCH_COMMANDS: CommandSpec[] = [
  enqueueCommand("enqueue-notify-manager", "notify-manager", "manager"),
  enqueueCommand("enqueue-nudge-worker", "nudge-worker", "worker"),
  {
    name: "enqueue",
    summary: "Queue a nudge, interrupt or capture for a session's host (run by its dispatcher or runner)",
    positionals: [{ name: "SESSION", required: true, description: "Session name" }],
    options: {
      type: { type: "string", choices: HOST_ENQUEUE_TYPES, description: "What to do (required)" },
      text: { type: "string", value: "TEXT", description: "nudge: the prompt" },
      key: { type: "string", value: "KEY", description: "interrupt: the key (default C-c)" },
      followup: { type: "string", value: "TEXT", description: "interrupt: a prompt to submit afterwards" },
      scrollback: { type: "string", value: "N", description: "capture: lines of history" },
      "idempotency-key": { type: "string", value: "K", description: "A retry with the same key returns the existing command" },
      "max-attempts": { type: "string", value: "N", description: "Attempts before the command is dead (default 3)" },
    },
    examples: ["switchyard enqueue remote-worker --type nudge --text 'status?'"],
    request: (a) => ({
      method: "POST",
      path: `/sessions/${enc(pos(a, 0)!)}/commands`,
      body: {
        type: req(a, "type"),
        text: str(a, "text"),
        key: str(a, "key"),
        followup: str(a, "followup"),
        scrollback: int(a, "scrollback", { min: 0 }),
        idempotency_key: str(a, "idempotency-key"),
        max_attempts: int(a, "max-attempts", { min: 1 }),
      },
    }),
    render: (b) => `${b.created ? "queued" : "already queued"} ${b.command.type} ${b.command_id} for host ${b.command.host ?? "-"}`,
  },
  {
    name: "commands",
    summary: "List durable commands, newest first (--state dead for dead letters)",
    options: {
      task: { type: "string", value: "TASK", description: "Only this task's commands" },
      type: { type: "string", value: "TYPE", choices: COMMAND_TYPES, description: "Only this command type" },
      state: { type: "string", value: "STATE", choices: COMMAND_STATES, description: "Only commands in this state" },
      attempts: { type: "boolean", description: "Include each command's attempt history" },
      limit: { type: "string", value: "N", description: "Commands per page (default 100, at most 1000)" },
      cursor: pageOptions.cursor,
    },
    examples: ["switchyard commands --state dead", "switchyard commands --task auth-refactor --attempts"],
    request: (a) => ({
      method: "GET",
      path: "/commands",
      query: { task: str(a, "task"), type: str(a, "type"), state: str(a, "state"), attempts: flag(a, "attempts"), ...pageQuery(a, 1000) },
    }),
    render: (b, a) =>
      b.count
        ? b.commands.flatMap((c: any) => [commandLine(c), ...(c.attempt_history ?? []).map(attemptLine)]).join("\n") + nextPageHintFor(b, "commands", a)
        : "no commands",
  },
  {
    name: "commands requeue",
    summary: "Put a dead, ambiguous or failed command back in the queue (owner only)",
    positionals: [{ name: "ID", required: true, description: "Command id" }],
    request: (a) => ({ method: "POST", path: `/commands/${enc(pos(a, 0)!)}/requeue` }),
    render: (b) => `requeued ${b.command_id} (was ${b.previous_state}); attempts reset`,
  },
  {
    name: "dispatch",
    summary: "Claim and execute queued commands on this machine (--once, or --watch until SIGINT/SIGTERM)",
    options: {
      once: { type: "boolean", description: "One pass, then exit (the default)" },
      watch: { type: "boolean", description: "Keep polling until interrupted or --watch-iterations" },
      "dispatcher-id": {
        type: "string",
        value: "ID",
        description: `Names this dispatcher in heartbeats and attempts (default ${DEFAULT_DISPATCHER_ID}, the id app-loop-status checks)`,
      },
      "watch-iterations": { type: "string", value: "N", description: "Stop a watch after N passes" },
      "lease-seconds": { type: "string", value: "N", description: "Claim lease; an unfinished claim is recovered after it (default 120)" },
      interval: { type: "string", value: "S", description: "Seconds between passes when idle (default 2; 0.05 to 3600)" },
      limit: { type: "string", value: "N", description: "Commands claimed per pass (default 20)" },
      type: {
        type: "string",
        multiple: true,
        value: "TYPE",
        choices: [...COMMAND_TYPES, ROUTING_TYPE],
        description: "Only these command types, or worker_task_complete for completion routing",
      },
      "dry-run": { type: "boolean", description: "Report what would run, with payload checks; change nothing" },
    },
    examples: ["switchyard dispatch --watch --dispatcher-id dispatch-local", "switchyard dispatch --once --dry-run --json"],
    local: async (a, g) => {
      if (g.url) throw new UsageError("dispatch works on the local database; on another machine run `switchyard runner --url URL --token T --host H`");
      if (flag(a, "once") && flag(a, "watch")) throw new UsageError("--once and --watch exclude each other");
      const watch = flag(a, "watch");
      const iterations = watch ? int(a, "watch-iterations", { min: 1 }) : 1;
      const leaseSeconds = int(a, "lease-seconds", { min: 1 }) ?? 120;
      const intervalSeconds = idleInterval(a);
      const onlyTypes = types(a);
      const limit = int(a, "limit", { min: 1 });
      const [{ openLocalServices, processLogger }, { runDispatchLoop }] = await Promise.all([import("../services.ts"), import("../dispatcher.ts")]);
      const services = await openLocalServices({ home: resolveHome(process.env, { home: g.home }), log: processLogger() });
      try {
        const dispatcherId = str(a, "dispatcher-id") ?? DEFAULT_DISPATCHER_ID;
        const result = await untilSignal((signal) =>
          runDispatchLoop(services, {
            dispatcherId,
            iterations,
            intervalMs: intervalSeconds * 1000,
            leaseMs: leaseSeconds * 1000,
            limit,
            types: onlyTypes.types,
            route: onlyTypes.route,
            dryRun: flag(a, "dry-run"),
            signal,
            onPass: (r) => process.stdout.write(`${g.json ? JSON.stringify(r) : passLine(r)}\n`),
            onError: (e) => process.stderr.write(`error: dispatch pass failed: ${e.message}\n`),
          }),
        );
        if (!g.json)
          process.stdout.write(`dispatcher ${dispatcherId} stopped (${result.stopped_by}) after ${result.passes} pass(es), ${result.processed} command(s)\n`);
        return result.failed_passes > 0 && result.passes === result.failed_passes ? 1 : 0;
      } finally {
        services.database.close();
      }
    },
  },
  {
    name: "runner",
    // It talks only to the server given by --url; there is no local state to find.
    home: "none",
    summary: "Execute this machine's queued host commands for a remote server (runner token)",
    options: {
      host: { type: "string", value: "HOST", description: "This machine's name, as sessions record it (required; the token must be scoped to it)" },
      "token-file": { type: "string", value: "PATH", description: "Read the runner token from this file (mode 0600) instead of --token" },
      "runner-id": { type: "string", value: "ID", description: "Names this process in attempt history (default pid)" },
      "lease-seconds": { type: "string", value: "N", description: "Claim lease (default 120)" },
      interval: { type: "string", value: "S", description: "Seconds between claim rounds when idle (default 2; 0.05 to 3600)" },
      limit: { type: "string", value: "N", description: "Commands claimed per round (default 10)" },
      iterations: { type: "string", value: "N", description: "Stop after N claim rounds" },
    },
    examples: [
      "switchyard runner --url https://switchyard.example:8787 --token $RUNNER_TOKEN --host build-box-2",
      "switchyard runner --url http://10.0.0.5:8787 --token-file ~/.switchyard/runner.token --host build-box-2",
    ],
    local: async (a, g) => {
      if (!g.url) throw new UsageError("runner needs --url (or $SWITCHYARD_URL): the server whose queue it serves");
      const tokenFile = str(a, "token-file");
      if (tokenFile && g.token && !process.env.SWITCHYARD_TOKEN) throw new UsageError("give the runner token with --token or --token-file, not both");
      const token = tokenFile ? readTokenFile(tokenFile) : g.token;
      if (!token) throw new UsageError("runner needs --token (or $SWITCHYARD_TOKEN, or --token-file): a runner token scoped to --host");
      const host = req(a, "host");
      const intervalSeconds = idleInterval(a);
      // A bad SWITCHYARD_HTTP_TIMEOUT fails here, not as a warning on every claim round.
      answerWithinSeconds({ method: "POST", path: "/runner/claim" });
      const [{ runRunner }, { NodeHost }, { processLogger }] = await Promise.all([import("../runner.ts"), import("../host.ts"), import("../services.ts")]);
      const r = await untilSignal((signal) =>
        runRunner({
          url: g.url!,
          token,
          hostName: host,
          host: new NodeHost(),
          runnerId: str(a, "runner-id") ?? `pid-${process.pid}`,
          limit: int(a, "limit", { min: 1 }) ?? 10,
          leaseSeconds: int(a, "lease-seconds", { min: 5 }) ?? 120,
          intervalMs: intervalSeconds * 1000,
          iterations: int(a, "iterations", { min: 1 }),
          signal,
          log: processLogger(),
          onResult: (res) =>
            process.stdout.write(
              `${g.json ? JSON.stringify(res) : terminalSafe(`${res.command_id} ${res.type} gen=${res.generation} -> ${res.state}${res.error ? ` (${res.error})` : ""}`)}\n`,
            ),
        }),
      );
      if (!g.json) process.stdout.write(`runner for ${host} stopped after ${r.rounds} round(s), ${r.executed} command(s)\n`);
      return 0;
    },
  },
];
