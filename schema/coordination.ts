import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { PLAN_STATUSES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { PLAN_STATUSES };

export type PlanStatus = (typeof PLAN_STATUSES)[number];

/** A shared plan: what matters, who owns it, how far it got. */
export const plans = sqliteTable(
  "plans",
  {
    id: text("id").primaryKey(),
    title: text("title").notNull(),
    body: text("body"),
    status: text("status", { enum: PLAN_STATUSES }).notNull(),
    /** The session that owns it; null means the owner. */
    ownerSessionId: text("owner_session_id"),
    taskId: text("task_id"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    // The board's active plans, most recently changed first (the newest twenty, unpaged).
    index("plans_status_idx").on(t.status, t.updatedAt, t.id),
    index("plans_updated_idx").on(t.updatedAt, t.id),
    // The list pages on what never changes, so a plan updated mid-walk is neither lost nor repeated.
    index("plans_status_created_idx").on(t.status, t.createdAt, t.id),
    index("plans_created_idx").on(t.createdAt, t.id),
  ],
);

export type PlanRow = typeof plans.$inferSelect;

/**
 * A session's claim on files: a path or glob, for a time. `base` is the fixed part of the path
 * (up to its first wildcard); two claims overlap when one base is the other or a folder above
 * it. An exclusive claim is taken with one conditional INSERT that finds no live overlapping
 * claim of another session, so of any number of racing claimants exactly one wins.
 */
export const fileClaims = sqliteTable(
  "file_claims",
  {
    id: text("id").primaryKey(),
    path: text("path").notNull(),
    base: text("base").notNull(),
    sessionId: text("session_id").notNull(),
    exclusive: integer("exclusive", { mode: "boolean" }).notNull(),
    note: text("note"),
    taskId: text("task_id"),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    releasedAt: integer("released_at"),
    releasedBy: text("released_by"),
  },
  (t) => [
    index("file_claims_live_base_idx").on(t.base, t.expiresAt, t.id).where(sql`released_at IS NULL`),
    // The live list pages on (base, id): a claim renewed mid-walk keeps its place.
    index("file_claims_live_list_idx").on(t.base, t.id).where(sql`released_at IS NULL`),
    // One session's claims newest first, paged on (created_at, id): the id ends the order without a sort.
    index("file_claims_session_idx").on(t.sessionId, t.createdAt, t.id),
    index("file_claims_created_idx").on(t.createdAt, t.id),
    // The board's lanes: each worker's unreleased claims, without walking the ones it released.
    index("file_claims_live_session_idx").on(t.sessionId, t.createdAt, t.id).where(sql`released_at IS NULL`),
  ],
);

export type FileClaimRow = typeof fileClaims.$inferSelect;

/** Short operational notes about the running system (not project knowledge). */
export const runtimeNotes = sqliteTable(
  "runtime_notes",
  {
    id: text("id").primaryKey(),
    text: text("text").notNull(),
    taskId: text("task_id"),
    sessionId: text("session_id"),
    author: text("author").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("runtime_notes_created_idx").on(t.createdAt, t.id), index("runtime_notes_task_idx").on(t.taskId, t.createdAt, t.id)],
);

export type RuntimeNoteRow = typeof runtimeNotes.$inferSelect;
