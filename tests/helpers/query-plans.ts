import type { InArgs, InStatement, Transaction } from "@libsql/client";
import Database from "libsql";
import type { TestEnv } from "./services.ts";

/** One statement the app sent to the database client. */
export type Captured = { sql: string; args: unknown[] };

/** Records every statement the app sends to the database client, including inside transactions. */
export function captureStatements(e: TestEnv): Captured[] {
  const seen: Captured[] = [];
  const client = e.services.database.client as any;
  const norm = (s: InStatement | string, args?: InArgs): Captured =>
    typeof s === "string" ? { sql: s, args: (args as unknown[]) ?? [] } : { sql: s.sql, args: (s.args as unknown[]) ?? [] };
  const exec = client.execute.bind(client);
  client.execute = (s: InStatement | string, args?: InArgs) => {
    seen.push(norm(s, args));
    return exec(s, args);
  };
  const batch = client.batch.bind(client);
  client.batch = (stmts: Array<InStatement | [string, InArgs?]>, mode?: unknown) => {
    for (const s of stmts) seen.push(Array.isArray(s) ? norm(s[0], s[1]) : norm(s));
    return batch(stmts, mode);
  };
  const transaction = client.transaction.bind(client);
  client.transaction = async (mode?: unknown) => {
    const tx: Transaction = await transaction(mode);
    const txExec = tx.execute.bind(tx);
    (tx as any).execute = (s: InStatement) => {
      seen.push(norm(s));
      return txExec(s);
    };
    return tx;
  };
  return seen;
}

/**
 * EXPLAINs every distinct read (and INSERT … SELECT, UPDATE, DELETE) among `seen` and returns
 * the plans that scan a growing table or sort through a temp B-tree. `small` tables may be
 * scanned; a SCAN through one of `openWorkIndexes` (partial indexes of open work) is allowed,
 * and so is a top-N read straight off an index or the rowid (ORDER BY … LIMIT without a filter).
 */
export async function planProblems(
  e: TestEnv,
  seen: Captured[],
  opts: { small?: Set<string>; openWorkIndexes?: string[] } = {},
): Promise<{ explained: number; problems: string[] }> {
  const small = opts.small ?? new Set(["__drizzle_migrations"]);
  const openWork = opts.openWorkIndexes ?? [];
  const problems: string[] = [];
  const explained = new Set<string>();
  // What the caller captured, before this reads anything (a capture may still be running).
  const statements = [...seen];
  // Partial indexes by name, with their predicate in the form `whereOnly` compares.
  const partial = new Map<string, string>();
  for (const row of (await e.services.database.client.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql LIKE '%WHERE%'")).rows) {
    partial.set(String(row.name), bare(/\bWHERE\s+(.*)$/is.exec(String(row.sql))?.[1] ?? ""));
  }
  for (const { sql, args } of statements) {
    if (!/^\s*(select|update|delete|insert\s+(or\s+\w+\s+)?into\s+\S+\s*\([^)]*\)\s*select)/i.test(sql) || explained.has(sql)) continue;
    explained.add(sql);
    const plan = await e.services.database.client.execute({ sql: `EXPLAIN QUERY PLAN ${sql}`, args: args as InArgs });
    for (const row of plan.rows) {
      const detail = String(row.detail);
      const scan = /^SCAN (\w+)/.exec(detail);
      const table = scan?.[1];
      const viaOpenWork = openWork.some((ix) => detail.includes(ix));
      // Read in index or rowid order: a sort on anything else shows as a temp B-tree line, caught below.
      const ordered = /order by[\s\S]*limit \?\s*$/i.test(sql);
      const topN = (/USING (COVERING )?INDEX/.test(detail) || /^SCAN \w+$/.test(detail)) && ordered && !/ where /i.test(sql);
      // A partial index whose predicate is the statement's whole WHERE: every row it holds matches.
      const partialName = /USING (?:COVERING )?INDEX (\w+)/.exec(detail)?.[1];
      const whereOnly = /\swhere\s([\s\S]*?)\sorder by/i.exec(sql)?.[1];
      const wholePartial =
        ordered && partialName !== undefined && partial.has(partialName) && whereOnly !== undefined && bare(whereOnly) === partial.get(partialName);
      if (scan && !small.has(table!) && !viaOpenWork && !topN && !wholePartial && !/^SCAN (CONSTANT ROW|\w+ VIRTUAL)/.test(detail))
        problems.push(`${detail}\n    in: ${sql.trim()}`);
      if (/USE TEMP B-TREE/.test(detail)) problems.push(`${detail}\n    in: ${sql.trim()}`);
    }
  }
  return { explained: explained.size, problems };
}

/** A WHERE clause without quotes, table names, parentheses or spaces, for comparing two. */
function bare(where: string): string {
  return where
    .replace(/"\w+"\./g, "")
    .replace(/[`"()\s]/g, "")
    .toLowerCase();
}

/**
 * Statements among `seen` that compare a column of a partial index's predicate (`WHERE state =
 * 'active'`) with a bound parameter. SQLite checks such a value against the predicate while
 * planning and then re-prepares the statement on every new binding, so a kept statement costs
 * several times its run; the value belongs in the SQL text (functions/lib/sql.ts eqLiteral).
 */
export async function rebindProblems(e: TestEnv, seen: Captured[]): Promise<string[]> {
  const indexes = await e.services.database.client.execute("SELECT tbl_name, sql FROM sqlite_schema WHERE type = 'index' AND sql LIKE '%WHERE%'");
  const predicates = new Set<string>();
  for (const row of indexes.rows) {
    const where = /\bWHERE\s+(.*)$/is.exec(String(row.sql))?.[1] ?? "";
    for (const m of where.matchAll(/[`"]?(\w+)[`"]?\s*=\s*'/g)) predicates.add(`${row.tbl_name}.${m[1]}`);
  }
  const problems = new Set<string>();
  for (const captured of seen) {
    if (/^\s*explain\b/i.test(captured.sql)) continue;
    // An UPDATE's SET list assigns, it does not filter: only what follows its WHERE can plan.
    const sql = captured.sql.replace(/^(\s*update\s+"\w+"\s+set\s)[\s\S]*?(\swhere\s)/i, "$1…$2");
    for (const p of predicates) {
      const [table, column] = p.split(".");
      if (!new RegExp(`"${table}"`).test(sql)) continue;
      // Qualified by the table or one of its aliases (`"sessions" "w"`), or bare in a query on it.
      const aliases = [table!, ...[...sql.matchAll(new RegExp(`"${table}"\\s+(?:as\\s+)?"(\\w+)"`, "gi"))].map((m) => m[1]!)];
      const qualified = aliases.some((a) => new RegExp(`"${a}"\\."${column}"\\s*=\\s*\\?`).test(sql));
      const bare = new RegExp(`(?<!\\.)"${column}"\\s*=\\s*\\?`).test(sql) && new RegExp(`from\\s+"${table}"`, "i").test(sql);
      if (qualified || bare) problems.add(`${p} = ? in: ${sql.trim().slice(0, 300)}`);
    }
  }
  return [...problems];
}

/**
 * The work each distinct read among `seen` takes now: SQLite's count of virtual-machine steps
 * for one run of it (`sqlite_stmt.nstep`), on a connection of its own to the test's database
 * file. Steps count rows visited, not pages, so a read that costs the same at any history takes
 * the same number of steps after more history is added; one that walks history takes more.
 * Reads whose text matches `skip` (ones that list rows rather than count them) are left out.
 */
export function readSteps(e: TestEnv, seen: Captured[], skip: RegExp[] = []): Map<string, number> {
  const url = e.services.database.url;
  if (!url.startsWith("file:")) throw new Error(`readSteps needs a database file, not ${url}`);
  const conn = new Database(url.slice("file:".length), { readonly: true } as never);
  try {
    const steps = new Map<string, number>();
    const nstep = conn.prepare("SELECT nstep FROM sqlite_stmt WHERE sql = ?").raw(true);
    // Kept referenced until their steps are read: a finalized statement leaves sqlite_stmt.
    const kept: unknown[] = [];
    for (const { sql, args } of seen) {
      if (!/^\s*select/i.test(sql) || steps.has(sql) || skip.some((s) => s.test(sql))) continue;
      const stmt = conn.prepare(sql);
      kept.push(stmt);
      stmt.all(args as never);
      steps.set(sql, Number((nstep.get([sql] as never) as unknown[])[0]));
    }
    return steps;
  } finally {
    conn.close();
  }
}
