import { type SQL, sql } from "drizzle-orm";
import type { Ctx } from "../lib/ctx.ts";

/**
 * Substring search over the trigram indexes (migration 0012) at a cost that follows the query's
 * rare part, not the table.
 *
 * An FTS5 phrase walks the lists of all its trigrams in step, so a query holding trigrams that
 * most rows have (`gs-`, `-00` in every session name of the growth bench, `000` in a tenth) reads
 * through those long lists, which grow with the table. Instead, a sample of rows spread over the
 * table estimates how common each of the query's trigrams is, and the index search is driven by
 * the query's rare parts alone (substrings of the query, so every phrase match holds them all);
 * each candidate is then confirmed against the row's own text, case-folded as the tokenizer
 * folds. The answer is the phrase's answer: the same rows, newest first. The sample picks the
 * plan, never the rows: a poor estimate costs time, not results.
 */

/** The trigram indexes discover searches: their tables and the columns each indexes (migration 0012). */
export const TRIGRAM_INDEXES = {
  tasks: { fts: "tasks_fts", table: "tasks", columns: ["name", "goal", "summary"] },
  sessions: { fts: "sessions_fts", table: "sessions", columns: ["name", "cwd", "tmux_session", "thread_title"] },
} as const;
export type TrigramIndex = keyof typeof TRIGRAM_INDEXES;

/** Rows sampled from each table, one at each 1/SAMPLE_ROWS step of its rowid range. */
const SAMPLE_ROWS = 32;
/** A trigram in at most this share of the sampled rows is rare: it may drive the search. */
const RARE_SHARE = 2 / SAMPLE_ROWS;
/** A trigram in at least this share of the sampled rows is common: left to the confirmation. */
const COMMON_SHARE = 1 / 4;

/** How an index is searched: as one phrase, or driven by the phrases of the query's rare parts, each candidate confirmed to hold `needle`. */
export type TrigramMatch = { kind: "phrase"; match: string } | { kind: "driven"; match: string; needle: string };

/** `text` as one FTS5 phrase: with the trigram tokenizer, a substring match (case-insensitive). */
export function trigramPhrase(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/** The trigram at each position of ASCII `text`, folded as the tokenizer folds ASCII. */
function trigramsOf(text: string): string[] {
  const lower = text.toLowerCase();
  return Array.from({ length: Math.max(0, lower.length - 2) }, (_, i) => lower.slice(i, i + 3));
}

/** The substrings of `text` covered by maximal runs of at least `min` trigram positions that pass `keep`. */
function runs(text: string, keep: boolean[], min: number): string[] {
  const out: string[] = [];
  let from = -1;
  for (let i = 0; i <= keep.length; i++) {
    if (i < keep.length && keep[i]) {
      if (from < 0) from = i;
    } else if (from >= 0) {
      if (i - from >= min) out.push(text.slice(from, i + 2));
      from = -1;
    }
  }
  return out;
}

/**
 * Decides, for each of `indexes`, how to search it for `text` (three characters or more), in at
 * most one round trip. The search is driven by the query's parts made of rare trigrams (when such
 * a part spans two trigrams or more, so the index checks their order itself and few rows pass),
 * else by its parts without common trigrams; with no such part, or when that part is the whole
 * query, the phrase runs as it is (when every trigram is common, so are the matches, and the
 * newest-first phrase stops after the first page of them). The phrase also serves a query of
 * fewer than three distinct trigrams, and one outside ASCII, where the tokenizer's Unicode case
 * folding is not something SQL can repeat when confirming.
 */
export async function planTrigramMatch(ctx: Ctx, text: string, indexes: TrigramIndex[]): Promise<Record<TrigramIndex, TrigramMatch>> {
  const phrase = trigramPhrase(text);
  const out = Object.fromEntries(indexes.map((ix) => [ix, { kind: "phrase", match: phrase }])) as Record<TrigramIndex, TrigramMatch>;
  const positions = trigramsOf(text);
  if (!indexes.length || new Set(positions).size < 3 || !/^[\x00-\x7f]*$/.test(text)) return out;
  // Each sampled row is one rowid seek: cheap at any size, and spread, so a trigram common only
  // in old rows (or only in new ones) still shows.
  const steps = JSON.stringify(Array.from({ length: SAMPLE_ROWS }, (_, i) => i + 1));
  const arms = indexes.map((ix, k) => {
    const { table, columns } = TRIGRAM_INDEXES[ix];
    const t = sql.raw(table);
    return sql`SELECT ${k} AS ix, (SELECT json_array(${sql.raw(columns.join(", "))}) FROM ${t} WHERE rowid >= step.value * (SELECT max(rowid) FROM ${t}) / ${SAMPLE_ROWS} ORDER BY rowid LIMIT 1) AS cols FROM json_each(${steps}) AS step`;
  });
  const sampled = await ctx.db.all<{ ix: number; cols: string | null }>(sql.join(arms, sql` UNION ALL `));
  indexes.forEach((ix, k) => {
    const sample = sampled
      .filter((r) => r.ix === k && r.cols)
      .map((r) => (JSON.parse(r.cols!) as Array<string | null>).filter((v): v is string => !!v).map((v) => v.toLowerCase()));
    const share = positions.map((t) => (sample.length ? sample.filter((cols) => cols.some((c) => c.includes(t))).length / sample.length : 0));
    let parts = runs(
      text,
      share.map((s) => s <= RARE_SHARE),
      2,
    );
    if (!parts.length)
      parts = runs(
        text,
        share.map((s) => s < COMMON_SHARE),
        1,
      );
    if (!parts.length || parts[0] === text) return;
    out[ix] = { kind: "driven", match: [...new Set(parts)].map(trigramPhrase).join(" AND "), needle: text.toLowerCase() };
  });
  return out;
}

/**
 * True (in SQL) when one of the index's columns of `alias` contains `needle` the way the
 * trigram tokenizer compares: case-folded, where for ASCII text the only other folds are
 * KELVIN SIGN to k and LONG S to s (tests/functions/discover/substring.test.ts checks every
 * code point against the tokenizer).
 */
export function containsNeedle(ix: TrigramIndex, alias: string, needle: string, columns: readonly string[] = TRIGRAM_INDEXES[ix].columns): SQL {
  const checks = columns.map((c) => sql`instr(replace(replace(lower(${sql.raw(`${alias}.${c}`)}), char(8490), 'k'), char(383), 's'), ${needle}) > 0`);
  return sql`(${sql.join(checks, sql` OR `)})`;
}
