import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * `hook` tokens may only post agent hook events (POST /v1/hooks/{agent}): minted for one
 * session (session_id set) or for one host (host set), never able to read or act.
 */
export const PRINCIPAL_KINDS = ["owner", "daemon", "session", "runner", "hook"] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

/** Bearer tokens; only a SHA-256 of the secret is stored. */
export const tokens = sqliteTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: PRINCIPAL_KINDS }).notNull(),
    secretHash: text("secret_hash").notNull().unique(),
    host: text("host"),
    sessionId: text("session_id"),
    label: text("label"),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [
    index("tokens_kind_idx").on(t.kind),
    index("tokens_created_idx").on(t.createdAt, t.id),
    // Minting a session's hook token revokes its earlier ones (functions/hooks/token.ts).
    index("tokens_session_kind_idx").on(t.sessionId, t.kind),
  ],
);

export type TokenRow = typeof tokens.$inferSelect;

export const IDEMPOTENCY_STATES = ["pending", "done"] as const;

/**
 * Stored responses for mutations sent with an Idempotency-Key header. A key belongs to one
 * token (`principal` is `token:<id>`); a stored response never holds a secret (they are
 * replaced by null and named in `secrets_withheld`).
 */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    principal: text("principal").notNull(),
    key: text("key").notNull(),
    method: text("method").notNull(),
    path: text("path").notNull(),
    requestHash: text("request_hash").notNull(),
    state: text("state", { enum: IDEMPOTENCY_STATES }).notNull(),
    statusCode: integer("status_code"),
    responseBody: text("response_body"),
    /** JSON paths of the secrets the live response carried and the stored copy does not. */
    secretsWithheld: text("secrets_withheld"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("idempotency_keys_principal_key_uq").on(t.principal, t.key),
    // Serves the per-token bound (newest N kept) and the retention prune.
    index("idempotency_keys_principal_created_idx").on(t.principal, t.createdAt),
    index("idempotency_keys_created_idx").on(t.createdAt),
  ],
);
