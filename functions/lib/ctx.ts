import type { BatchItem } from "drizzle-orm/batch";
import type { z } from "@hono/zod-openapi";
import type { PrincipalKind } from "../../schema/auth.ts";
import type { CommandRow, CommandType } from "../../schema/commands.ts";
import type { Database, Db } from "./db.ts";
import type { Host } from "./host.ts";
import { makeId } from "./ids.ts";
import { InboxNotifier } from "./notifier.ts";

/** Who is calling. `anonymous` only reaches public routes. */
export type Principal =
  | { kind: "owner"; tokenId: string }
  | { kind: "daemon"; tokenId: string }
  | { kind: "runner"; tokenId: string; host: string }
  | { kind: "session"; tokenId: string; sessionId: string }
  /** May only post hook events: for one session, or for the sessions of one host. */
  | { kind: "hook"; tokenId: string; sessionId: string | null; host: string | null }
  | { kind: "anonymous" };

export type PrincipalKindOrAnon = PrincipalKind | "anonymous";

/** Why a presented bearer token did not resolve to a principal. */
export type TokenProblem = "missing" | "unknown" | "revoked" | "session_gone";

/** Structured logger; the default writes one JSON line per entry. */
export interface Logger {
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
  /** A logger that adds `bindings` to every entry (pino's child); see `withFields`. */
  child?(bindings: Record<string, unknown>): Logger;
}

/** A logger whose entries all carry `fields` (a request's id): the logger's own child when it has one. */
export function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  if (log === silentLogger) return log;
  if (log.child) return log.child(fields);
  return {
    info: (msg, data) => log.info(msg, { ...fields, ...data }),
    warn: (msg, data) => log.warn(msg, { ...fields, ...data }),
    error: (msg, data) => log.error(msg, { ...fields, ...data }),
    child: (more) => withFields(log, { ...fields, ...more }),
  };
}

/**
 * Each token's allowance on an expensive route: `burst` calls at once, refilled at `perMinute`
 * (functions/lib/rate-limit.ts).
 */
export interface RateLimit {
  burst: number;
  perMinute: number;
}

/** Where the rate limit keeps its buckets (functions/lib/rate-limit.ts `RateLimiter`). */
export interface RateBuckets {
  /** Takes one call from `key`'s bucket: 0 when allowed, else the milliseconds until one is. */
  take(key: string, limit: RateLimit, nowMs: number): number;
}

/** Everything a domain function may use; built once per request or tick. */
export interface Ctx {
  db: Db;
  database: Database;
  now(): Date;
  newId(prefix: string): string;
  host?: Host;
  hostName?: string;
  agents?: Services["agents"];
  /** Replaces the shared executor table (tests inject side effects they can observe). */
  executors?: ExecutorTable;
  /** The external advice drafter, when one is configured (see Services.drafter). */
  drafter?: DrafterCommand;
  auth: Principal;
  log: Logger;
  /** In-process inbox wake-ups (see Services.notifier). */
  notifier?: InboxNotifier;
  /** Default database re-check interval of inbox long polls, in ms (see Services.wakeIntervalMs). */
  wakeIntervalMs?: number;
  /** The request's Idempotency-Key, when it sent one (set by the idempotency middleware). */
  idempotency?: KeyScope;
  /** Test hooks (see Services.hooks). */
  hooks?: Services["hooks"];
}

/** How a route treats Idempotency-Key (published as `x-idempotency` in the OpenAPI document). */
export type IdempotencyMode = "atomic" | "pending";

/** The Idempotency-Key of the request in progress. */
export interface KeyScope {
  /** `token:<id>`: a key belongs to the token that sent it. */
  principal: string;
  key: string;
  method: string;
  path: string;
  requestHash: string;
  mode: IdempotencyMode;
  /** True once the final response was stored, in the same batch as the request's write. */
  recorded: boolean;
}

/** What a side effect reports back: whether it achieved its goal, and details. */
export interface EffectOutcome {
  ok: boolean;
  result: Record<string, unknown>;
  error?: string;
}

/** What a host executor may use: the machine, never the database, so a remote runner can run it. */
export type HostCtx = Pick<Ctx, "host" | "hostName" | "now" | "log">;

/**
 * Performs one command's side effect. The stored payload is validated with `payload` after the
 * claim and before anything happens, so an invalid payload fails with no side effect; `run` is
 * called only after the claim was confirmed live and side_effect_started recorded.
 */
export interface Executor<P = any, C extends HostCtx = Ctx> {
  payload: z.ZodType<P>;
  run(ctx: C, cmd: CommandRow, payload: P): Promise<EffectOutcome>;
  /**
   * For an effect that only writes this database (an inbox delivery, a notification): reads what
   * it needs and returns its statements instead of running them, so the queue commits them in
   * the same batch as the command's outcome — effect and outcome together or not at all, with no
   * side-effect-started window that could leave the command ambiguous. Null (or a batch that
   * cannot commit, e.g. a repeat refused by a unique key) falls back to `run`. A dispatcher plans
   * a run of claimed commands before committing any of them (one batch for all), so a plan must
   * not depend on what another command's plan in the same pass writes.
   */
  plan?(ctx: C, cmd: CommandRow, payload: P): Promise<PlannedEffect | null>;
}

/** A database-only effect as statements, for `Executor.plan`. */
export interface PlannedEffect {
  stmts: BatchItem<"sqlite">[];
  result: Record<string, unknown>;
  /** Runs once the batch has committed (waking long polls, say). */
  committed?: () => void;
}

/** A policy's refusal of a command before its side effect; the receipt becomes the command's result. */
export interface PolicyRefusal {
  /** Names what is missing, e.g. "manager permission required for dispatch command: repo.open_pr". */
  reason: string;
  receipt: Record<string, unknown>;
}

/**
 * Decides, after a command was claimed and its payload validated but before anything happens,
 * whether it may run. Null lets it run; a refusal fails it with no side effect.
 */
export type CommandPolicy = (ctx: Ctx, cmd: CommandRow) => Promise<PolicyRefusal | null>;

/** A table of executors by command type. */
export type ExecutorTable = Partial<Record<CommandType, Executor>>;

/**
 * An external drafter: a command that reads the context packet as JSON on stdin and prints
 * `{"draft": "…"}` on stdout. Running a process is a host capability, so the local runner
 * implements this (local-runner/drafter.ts) and hands it in through Services.
 */
export interface DrafterCommand {
  /** Names the command in draft_meta and errors. */
  label: string;
  /**
   * Runs the command once with `stdin` and resolves with its stdout. Rejects with a message
   * naming the cause when the command cannot start, exits non-zero or outlives its timeout.
   */
  run(stdin: string): Promise<string>;
}

/** How to launch one agent CLI on this host: the command prefix and extra environment. */
export interface AgentLaunch {
  command: string[];
  env?: Record<string, string>;
}

/**
 * The static files of the API browser at /docs (Swagger UI). Reading files is a host capability,
 * so the local runner implements this from a pinned npm package and hands it in through Services.
 */
export interface DocsAssets {
  /** A served file's bytes and media type; null when `name` is not one of the served files. */
  read(name: string): Promise<{ body: Uint8Array<ArrayBuffer>; type: string } | null>;
}

/** Long-lived services handed to `createApp`, the CLI and cron ticks. */
export interface Services {
  /** Agent CLIs this host can spawn (start-worker, pair); absent on edge runtimes. */
  agents?: { codex?: AgentLaunch; claude?: AgentLaunch };
  database: Database;
  clock?: () => Date;
  /** The API browser's assets; absent (edge runtimes): /docs answers 404 and points at the OpenAPI document. */
  docsAssets?: DocsAssets;
  /**
   * An external advice drafter (a subprocess on the local runner). Absent: the broker drafts
   * with its built-in deterministic drafter.
   */
  drafter?: DrafterCommand;
  /** Replaces the shared executor table; for tests that need an observable side effect. */
  executors?: ExecutorTable;
  host?: Host;
  /** The name of the machine this process runs on; recorded on sessions it registers. */
  hostName?: string;
  log?: Logger;
  /** Largest accepted request body in bytes. */
  maxBodyBytes?: number;
  /**
   * Each token's allowance on expensive routes (cycle, ingest, long polls, spawn…); unset means
   * DEFAULT_RATE_LIMIT, null switches the limit off. Read per request, so it can be changed live.
   */
  rateLimit?: RateLimit | null;
  /** This process's rate-limit buckets; created on first use. */
  rateLimiter?: RateBuckets;
  /**
   * How long a request may run before it is answered REQUEST_TIMEOUT (ms); unset means
   * DEFAULT_REQUEST_TIMEOUT_MS, 0 none. Long polls get their wait on top; routes that bound
   * their own work (spawn, patrol, crons) have none.
   */
  requestTimeoutMs?: number;
  /**
   * Wakes inbox long polls of this process as soon as it writes an inbox item, or as soon as a
   * change watcher sees another process write one (without a watcher, those are found by the
   * polls' periodic re-check). Created on first use.
   */
  notifier?: InboxNotifier;
  /**
   * How often a waiting long poll re-checks the database when nothing woke it, unless the
   * request asks for its own interval (default 1000). Items other processes write are found this
   * way unless a change watcher signals them sooner (the local runner's does, for a file
   * database); against a remote database it is the cross-server wake floor.
   */
  wakeIntervalMs?: number;
  /**
   * Test hooks around the batch that stores an Idempotency-Key's final response with the
   * request's write: `beforeKeyCommit` runs just before it is sent, `afterKeyCommit` right after it
   * committed (before the response is sent). Crash tests kill the process there; a concurrency
   * test may hold requests at `beforeKeyCommit` (it is awaited) to make them meet at the batch.
   * Under txWithKey it runs inside the write transaction, where holding it would block others.
   */
  hooks?: {
    beforeKeyCommit?: () => void | Promise<void>;
    afterKeyCommit?: () => void;
    /** Awaited once a pending-mode request has claimed its key, before the route runs (deadline tests hold it there). */
    afterKeyClaimed?: () => void | Promise<void>;
  };
}

/** A logger that drops everything (tests, CLI). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

function sharedNotifier(services: Services): InboxNotifier {
  services.notifier ??= new InboxNotifier();
  return services.notifier;
}

/** Builds a ctx for one request or tick with the given principal. */
export function makeCtx(services: Services, auth: Principal): Ctx {
  const now = services.clock ?? (() => new Date());
  return {
    db: services.database.db,
    database: services.database,
    now,
    newId: (prefix) => makeId(prefix, now().getTime()),
    host: services.host,
    hostName: services.hostName,
    agents: services.agents,
    drafter: services.drafter,
    executors: services.executors,
    auth,
    log: services.log ?? silentLogger,
    // One per Services, so every request and tick of this process shares it.
    notifier: sharedNotifier(services),
    wakeIntervalMs: services.wakeIntervalMs,
    hooks: services.hooks,
  };
}

/** A string that names the principal in audit rows, e.g. `session:ses_…`. */
export function actorOf(p: Principal): string {
  switch (p.kind) {
    case "owner":
    case "daemon":
      return `${p.kind}:${p.tokenId}`;
    case "runner":
      return `runner:${p.host}`;
    case "session":
      return `session:${p.sessionId}`;
    case "hook":
      return p.sessionId ? `hook:session:${p.sessionId}` : `hook:host:${p.host}`;
    default:
      return "anonymous";
  }
}
