// The in-process fast path for read commands, for when no server answers them. bin/switchyard.cjs
// tries it after the served fast path (fast.ts) returned null: the same command lines, answered
// on the home's database file by the same domain functions the routes call, as the same
// principal the full CLI acts as in-process, and printed through the same spec and printer. It
// opens the file with the `libsql` binding alone (no @libsql/client, no Hono, no undici, no
// commander) and only ever reads: a database whose schema is not current, a home that is not
// set up, a statement that would write, a request the route would refuse (401, 403, 400) or any
// other surprise returns null, and the full CLI runs as if this did not exist, so its answer and
// its error messages stay the only ones. Bundled on its own (dist/switchyard-fast-local.cjs),
// with "@hono/zod-openapi" replaced by zod-openapi-lite.ts (bin/build-cli.mjs).
import { existsSync } from "node:fs";
import type { InStatement, ResultSet } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { listBindings, listBindingsRoute } from "../../functions/bindings/list.ts";
import { auditRoute, auditTask } from "../../functions/audit/audit.ts";
import { discover, discoverRoute } from "../../functions/discover/discover.ts";
import { principalForSecret } from "../../functions/lib/auth.ts";
import { makeCtx, type Ctx, type Principal, type Services } from "../../functions/lib/ctx.ts";
import type { Database, Db } from "../../functions/lib/db.ts";
import { ApiError } from "../../functions/lib/errors.ts";
import { CachedConnection, cachedConnectionPath } from "../../functions/lib/statement-cache.ts";
import { listInbox, managerInboxRoute, sessionInboxRoute, workerInboxRoute } from "../../functions/messages/inbox-list.ts";
import { listMessages, messagesRoute } from "../../functions/messages/messages-list.ts";
import { listRoute, listSessions } from "../../functions/sessions/list.ts";
import { showRoute, showSession } from "../../functions/sessions/show.ts";
import { listTasks, listTasksRoute } from "../../functions/tasks/list.ts";
import { showTask, showTaskRoute } from "../../functions/tasks/show.ts";
import { hardeningFromEnv } from "../hardening-env.ts";
import { readOwnerTokenFile, resolveHome } from "../home.ts";
import { allMigrationsApplied } from "../migration-journal.ts";
import { parseRead } from "./fast.ts";
import { withConnection } from "./paging.ts";
import { globalsFrom, settleHome } from "./globals.ts";
import { type Io, printAnswerWhole, processIo } from "./output.ts";
import { type ApiResponse, buildPath } from "./transport.ts";

/** A route the in-process fast path runs: its definition (path, principals, schemas) and what its handler calls. */
interface LocalRead {
  route: { method: string; path: string; "x-principals"?: readonly string[]; request?: { query?: Schema; params?: Schema } };
  run(ctx: Ctx, input: { query: any; param: any }): Promise<unknown>;
}

type Schema = { safeParseAsync(v: unknown): Promise<{ success: boolean; data?: unknown }> };

// Each entry calls what the route's handler in functions/<group>/index.ts calls, with the same arguments.
const READS: LocalRead[] = [
  { route: listRoute, run: (ctx, v) => listSessions(ctx, v.query) },
  { route: showRoute, run: (ctx, v) => showSession(ctx, v.param.name) },
  { route: listTasksRoute, run: (ctx, v) => listTasks(ctx, v.query) },
  { route: showTaskRoute, run: (ctx, v) => showTask(ctx, v.param.name) },
  { route: listBindingsRoute, run: (ctx, v) => listBindings(ctx, v.query) },
  { route: discoverRoute, run: (ctx, v) => discover(ctx, v.query) },
  { route: auditRoute, run: (ctx, v) => auditTask(ctx, v.param.name, v.query) },
  { route: messagesRoute, run: (ctx, v) => listMessages(ctx, v.query) },
  // A read that waits is not covered (parseRead refuses it), so no signal ever aborts these.
  { route: sessionInboxRoute, run: (ctx, v) => listInbox(ctx, { session: v.param.name }, v.query) },
  { route: managerInboxRoute, run: (ctx, v) => listInbox(ctx, { task: v.param.name, role: "manager" }, v.query) },
  { route: workerInboxRoute, run: (ctx, v) => listInbox(ctx, { task: v.param.name, role: "worker" }, v.query) },
];

/**
 * Settings the full CLI reads and checks when it opens the home (local-runner/services.ts) that
 * this path does not: with any of them set, the full CLI runs and reports a bad value itself.
 */
const CHECKED_BY_FULL_CLI = ["SWITCHYARD_WAKE_INTERVAL_MS", "SWITCHYARD_BROKER_DRAFTER", "SWITCHYARD_BROKER_DRAFTER_TIMEOUT_SECONDS", "SWITCHYARD_LOG_LEVEL"];

/** Raised for anything this path leaves to the full CLI. */
class LeaveToFullCli extends Error {}

/** The route for a GET path under /v1, with its path parameters as the router would decode them, or null. */
export function routeFor(pathname: string): { read: LocalRead; params: Record<string, string> } | null {
  for (const read of READS) {
    if (read.route.method !== "get") continue;
    const names: string[] = [];
    const pattern = read.route.path
      .split("/")
      .map((seg) => {
        const param = /^\{(.+)\}$/.exec(seg);
        if (!param) return seg.replace(/[.*+?^$()|[\]\\{}]/g, "\\$&");
        names.push(param[1]!);
        return "([^/]+)";
      })
      .join("/");
    const m = new RegExp(`^/v1${pattern}$`).exec(pathname);
    if (!m) continue;
    const params: Record<string, string> = {};
    for (const [i, name] of names.entries()) {
      const raw = m[i + 1]!;
      // An escaped or dot segment is decoded and normalised by the router in ways not worth copying: the full CLI answers it.
      if (raw.includes("%") || raw === "." || raw === "..") return null;
      params[name] = raw;
    }
    return { read, params };
  }
  return null;
}

/** The query object the route's validator sees: one value as a string, a repeated one as a list (as Hono's `queries()`). */
function queryObject(search: string): Record<string, string | string[]> {
  const all = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(search)) all.set(k, [...(all.get(k) ?? []), v]);
  return Object.fromEntries([...all].map(([k, v]) => [k, v.length === 1 ? v[0]! : v]));
}

/**
 * The database as drizzle's libSQL driver expects its client, over one kept connection of the
 * `libsql` binding (statement-cache.ts, the same code the server's reads run through). It only
 * reads: any statement that is not a SELECT is refused before it reaches SQLite, and that
 * refusal leaves the command to the full CLI.
 */
function readOnlyClient(conn: CachedConnection) {
  const execute = async (stmt: InStatement | string): Promise<ResultSet> => {
    const sql = typeof stmt === "string" ? stmt : stmt.sql;
    if (!/^\s*select\b/i.test(sql)) throw new LeaveToFullCli(`not a read: ${sql.slice(0, 40)}`);
    return conn.execute(stmt);
  };
  return {
    execute,
    // A batch of reads sees one snapshot, as @libsql/client's batch (a transaction) gives it.
    async batch(stmts: Array<InStatement | string>): Promise<ResultSet[]> {
      for (const s of stmts) if (!/^\s*select\b/i.test(typeof s === "string" ? s : s.sql)) throw new LeaveToFullCli("a batch that writes");
      conn.execute("BEGIN DEFERRED");
      try {
        const out: ResultSet[] = [];
        for (const s of stmts) out.push(await execute(s));
        return out;
      } finally {
        conn.execute("COMMIT");
      }
    },
    transaction(): never {
      throw new LeaveToFullCli("an interactive transaction");
    },
    migrate(): never {
      throw new LeaveToFullCli("a migration");
    },
    close() {
      conn.reset();
    },
    closed: false,
    protocol: "file",
  };
}

/**
 * Answers a read command in-process and returns its exit code, or null when the full CLI must
 * run instead (see the top of this file). Never writes to the database or the home.
 */
export async function runLocal(argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; io?: Io } = {}): Promise<number | null> {
  const env = opts.env ?? process.env;
  let conn: CachedConnection | null = null;
  try {
    const cmd = parseRead(argv);
    if (!cmd) return null;
    const g = settleHome(cmd.spec, globalsFrom(cmd.globals, env), opts.cwd ?? process.cwd(), env);
    // A server named by --url / $SWITCHYARD_URL is the full CLI's to call.
    if (g.url || !g.home) return null;
    if (CHECKED_BY_FULL_CLI.some((k) => env[k])) return null;
    hardeningFromEnv(env);
    const home = resolveHome(env, { home: g.home });
    // Only the home's own database file, already there: the full CLI creates, migrates or dials anything else.
    const path = cachedConnectionPath(home.dbUrl);
    if (!path || path === ":memory:" || !existsSync(path)) return null;
    const ownerToken = readOwnerTokenFile(home);
    if (!ownerToken) return null;

    const url = new URL(buildPath(cmd.spec.request!(cmd.args)), "http://localhost");
    const found = routeFor(url.pathname);
    if (!found) return null;

    conn = new CachedConnection(path, 5000, home.dbSynchronous);
    const client = readOnlyClient(conn);
    const migrations = await client.execute("SELECT created_at FROM __drizzle_migrations");
    if (!allMigrationsApplied(migrations.rows.map((r) => r.created_at))) return null;
    // No relational schema: the read routes use the query builder only, and building drizzle's
    // relational config for every table costs more than the query.
    const db = drizzle({ client: client as never }) as unknown as Db;
    const database: Database = {
      db,
      client: client as never,
      url: home.dbUrl,
      busyRetries: () => 0,
      changeStamp: () => null,
      integrityCheck: () => Promise.reject(new Error("no integrity check on the read-only fast path")),
      close: () => conn?.reset(),
    };
    const services: Services = { database, clock: () => new Date(), hostName: home.hostName };
    const nowMs = Date.now();

    // The full CLI makes sure the home's owner token is this database's live owner before anything else.
    const owner = await principalForSecret(db, ownerToken, nowMs);
    if (typeof owner === "string" || owner.kind !== "owner") return null;
    // The principal the full CLI acts as in-process: the given token's (an agent's $SWITCHYARD_TOKEN), else the owner.
    let principal: Principal = owner;
    if (g.token && g.token !== ownerToken) {
      const given = await principalForSecret(db, g.token, nowMs);
      if (typeof given === "string") return null;
      principal = given;
    }
    if (!found.read.route["x-principals"]?.includes(principal.kind)) return null;

    // The route's validators, query then path, as zod parses them in the app; a refusal is the full CLI's to print.
    const request = found.read.route.request ?? {};
    const query = request.query ? await request.query.safeParseAsync(queryObject(url.search)) : { success: true, data: {} };
    const param = request.params ? await request.params.safeParseAsync(found.params) : { success: true, data: {} };
    if (!query.success || !param.success) return null;

    let res: ApiResponse;
    try {
      const answer = await found.read.run(makeCtx(services, principal), { query: query.data, param: param.data });
      // The body as it crosses the wire (c.json), so dates, undefined and the like print alike.
      res = { status: 200, body: JSON.parse(JSON.stringify(answer)) };
    } catch (e) {
      // A refusal of the domain function is printed as the app renders it; anything else is the full CLI's.
      if (!(e instanceof ApiError) || e.status >= 500 || e.status === 429) return null;
      res = { status: e.status, body: e.toBody() };
    }
    return printAnswerWhole(cmd.spec, withConnection(cmd.args, cmd.globals, g), g.json, res, opts.io ?? processIo);
  } catch {
    return null;
  } finally {
    conn?.reset();
  }
}
