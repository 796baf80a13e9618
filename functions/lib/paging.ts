import { z } from "@hono/zod-openapi";
import { queryNumber } from "./names.ts";
import { type AnyColumn, type SQL, sql } from "drizzle-orm";
import { ApiError } from "./errors.ts";

/** Rows per page when the caller does not say. */
export const DEFAULT_PAGE_LIMIT = 50;
/** The most rows one page may hold. */
export const MAX_PAGE_LIMIT = 500;
/**
 * Rows of an entity's own history (a task's bindings, an advice request's events) that its
 * "show" embeds: the newest ones, with the cursor of that history's list route for the rest, so a
 * show stays one bounded answer however long the entity has lived.
 */
export const SHOW_EMBED_LIMIT = 20;

/**
 * Query fields every list route accepts; spread into the route's query schema. The cursor is
 * opaque to callers: the `next_cursor` of the previous page, unchanged.
 */
export const PageQueryFields = {
  limit: queryNumber(z.number().int().min(1).max(MAX_PAGE_LIMIT))
    .optional()
    .default(DEFAULT_PAGE_LIMIT)
    .openapi({ description: `Rows per page (default ${DEFAULT_PAGE_LIMIT}, at most ${MAX_PAGE_LIMIT})` }),
  cursor: z.string().max(512).optional().openapi({ description: "The next_cursor of the previous page" }),
};

/** Response field every list route returns beside its rows. */
export const NextCursorField = {
  next_cursor: z.string().nullable().openapi({ description: "Pass as cursor to get the next page; null on the last page" }),
};

/** A position in a keyset-ordered list: the sort key values of the last row of a page. */
export type CursorKey = Array<string | number>;

function toBase64Url(text: string): string {
  let bin = "";
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): string {
  const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/**
 * Encodes a sort key as an opaque cursor of the list named `tag` (e.g. `sessions/list`, or a
 * replay's task, role and format), so that a cursor handed to another list is refused instead of
 * silently skipping rows there.
 */
export function encodeCursor(key: CursorKey, tag: string): string {
  return toBase64Url(JSON.stringify([tag, key]));
}

const notACursor = () =>
  new ApiError("VALIDATION_FAILED", "cursor is not a cursor of this list", {
    hint: "Pass the next_cursor of the previous page of this same list unchanged, or leave cursor out to start at the first page.",
    fields: [{ field: "cursor", message: "not a cursor of this list" }],
  });

/**
 * Decodes a cursor made by `encodeCursor` for the list `tag`, sorted by `arity` keys. A cursor
 * that is not one (edited, truncated, from another list or another task) is a validation error
 * naming the field; keysetAfter then checks each key against its column's type.
 */
export function decodeCursor(cursor: string | undefined, arity: number, tag: string): CursorKey | null {
  if (cursor === undefined || cursor === "") return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromBase64Url(cursor));
  } catch {
    parsed = null;
  }
  const key = Array.isArray(parsed) && parsed.length === 2 && parsed[0] === tag ? (parsed[1] as unknown) : null;
  if (!Array.isArray(key) || key.length !== arity || !key.every((k) => typeof k === "string" || (typeof k === "number" && Number.isFinite(k)))) {
    throw notACursor();
  }
  return key as CursorKey;
}

/** Decodes a cursor whose keys must all be integers of at least `min` (positions, row ids). */
export function decodeIntCursor(cursor: string | undefined, arity: number, tag: string, min: number): number[] | null {
  const key = decodeCursor(cursor, arity, tag);
  if (key && !key.every((k) => Number.isSafeInteger(k) && (k as number) >= min)) throw notACursor();
  return key as number[] | null;
}

/** What one key of a cursor holds, for a list that compares its keys itself rather than through keysetAfter. */
export type CursorKind = "int" | "text";

/**
 * Decodes a cursor whose keys the list compares itself (raw SQL, rowids): each key must be of its
 * kind (`int`, a whole number of at least 0, or `text`), so a forged key of another type is
 * refused as not a cursor instead of reaching SQLite as NaN (an error) or comparing silently
 * (a walk that restarts or ends). A cursor that goes to keysetAfter uses decodeCursor, whose
 * columns check the same.
 */
export function decodeTypedCursor<const K extends readonly CursorKind[]>(
  cursor: string | undefined,
  kinds: K,
  tag: string,
): { -readonly [I in keyof K]: K[I] extends "int" ? number : string } | null {
  const key = decodeCursor(cursor, kinds.length, tag);
  if (!key) return null;
  const fits = (k: unknown, kind: CursorKind) => (kind === "text" ? typeof k === "string" : Number.isSafeInteger(k) && (k as number) >= 0);
  if (!kinds.every((kind, i) => fits(key[i], kind))) throw notACursor();
  return key as never;
}

function keyFitsColumn(column: AnyColumn, key: unknown): boolean {
  if (column.dataType === "string") return typeof key === "string";
  if (column.dataType === "number") return column.columnType === "SQLiteInteger" ? Number.isSafeInteger(key) : Number.isFinite(key);
  return true;
}

/**
 * The condition for rows strictly after `key` in the order of `columns` (all ascending, or all
 * descending with `desc`). A row-value comparison, which SQLite serves from an index on the
 * same columns.
 */
export function keysetAfter(columns: AnyColumn[], key: CursorKey | null, order: "asc" | "desc" = "asc"): SQL | undefined {
  if (!key) return undefined;
  // A forged key of the wrong type (text for a timestamp) would be compared silently by SQLite and
  // restart or end the walk; the columns say what each key must be.
  if (key.length !== columns.length || !columns.every((c, i) => keyFitsColumn(c, key[i]))) throw notACursor();
  const cols = sql.join(
    columns.map((c) => sql`${c}`),
    sql`, `,
  );
  const vals = sql.join(
    key.map((v) => sql`${v}`),
    sql`, `,
  );
  return order === "asc" ? sql`(${cols}) > (${vals})` : sql`(${cols}) < (${vals})`;
}

/**
 * Cuts a page from rows fetched with `limit + 1`: the extra row only says that another page
 * exists, and the cursor is the key of the last row kept, tagged with its list (see encodeCursor).
 */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => CursorKey, tag: string): { items: T[]; next_cursor: string | null } {
  if (rows.length <= limit) return { items: rows, next_cursor: null };
  const items = rows.slice(0, limit);
  return { items, next_cursor: encodeCursor(keyOf(items[items.length - 1]!), tag) };
}
