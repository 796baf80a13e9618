import { int, str, type Args } from "./spec.ts";

/** The largest page a list route serves (functions/lib/paging.ts). */
const MAX_PAGE = 500;

/** `--limit/--cursor` for list commands. */
export const pageOptions = {
  limit: { type: "string" as const, value: "N", description: "Rows per page (default 50, at most 500)" },
  cursor: { type: "string" as const, value: "C", description: "The next_cursor printed by the previous page" },
};

/** The query fields of `--limit/--cursor`; `max` is the route's own largest page where it serves more than 500. */
export function pageQuery(a: Args, max = MAX_PAGE) {
  return { limit: int(a, "limit", { min: 1, max }), cursor: str(a, "cursor") };
}

/**
 * A server address fit to print: one carrying a user, a password, a query or a fragment (where a
 * credential may ride) is left out of the hint (undefined) rather than printed or altered.
 */
function printableUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.username || u.password || u.search || u.hash ? undefined : url;
  } catch {
    return undefined;
  }
}

/** Options never repeated in a hint: the cursor (replaced), and output. */
const NOT_REPEATED = new Set(["cursor", "json"]);

/**
 * `a` with the `--home`/`--url` its command line gave (`typed`, before $SWITCHYARD_* and home
 * discovery), as `settled` resolved them. Hints repeat them, never a token (a secret): a hint run
 * from another directory would otherwise list another home's rows with this list's cursor.
 */
export function withConnection(a: Args, typed: Record<string, unknown>, settled: { home?: string; url?: string }): Args {
  const connection = { home: typed.home ? settled.home : undefined, url: typed.url ? printableUrl(settled.url) : undefined };
  return connection.home === undefined && connection.url === undefined ? a : { ...a, connection };
}

/** A value as one shell word, quoted only when it needs to be. */
export const shellWord = (v: string) => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replaceAll("'", "'\\''")}'`);

/**
 * A trailing line telling how to get the next page, when there is one: the command with its
 * positionals and options as given (filters and --limit too), plus the cursor (an earlier
 * --cursor is replaced), so running it walks on through the same list.
 */
export function nextPageHintFor(b: { next_cursor?: string | null }, command: string, a: Args): string {
  if (!b.next_cursor) return "";
  const flags = Object.entries(a.values)
    .filter(([k, v]) => !NOT_REPEATED.has(k) && v !== undefined && v !== false)
    .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `--${k} ${shellWord(x)}`) : v === true ? [`--${k}`] : [`--${k} ${shellWord(String(v))}`]));
  const connection = Object.entries(a.connection ?? {}).flatMap(([k, v]) => (v === undefined ? [] : [`--${k} ${shellWord(v)}`]));
  return `\nmore: switchyard ${[command, ...a.positionals.map(shellWord), ...flags, ...connection].join(" ")} --cursor ${b.next_cursor}`;
}
