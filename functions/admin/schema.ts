import { z } from "@hono/zod-openapi";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { PRINCIPAL_KINDS } from "../../schema/auth.ts";
import { NameSchema } from "../lib/names.ts";
import { TOKEN_SCOPES } from "../../schema/enums.ts";

export const Migration = z.object({ tag: z.string(), created_at: z.number().int() }).openapi("Migration");

export const DbDoctorResult = z
  .object({
    ok: z.boolean(),
    url: z.string(),
    schema_version: z.string().nullable(),
    applied_migrations: z.array(Migration),
    pending_migrations: z.array(Migration),
    unknown_migrations: z.array(Migration),
    missing_tables: z.array(z.string()).openapi({
      description: "Tables of this build's schema absent from the file although every migration is recorded as applied (dropped by hand)",
    }),
    integrity_check: z.string(),
    journal_mode: z.string().nullable(),
    busy_retries: z.number().int(),
  })
  .openapi("DbDoctorResult");

export const MintTokenBody = z
  .object({
    scope: z.enum(TOKEN_SCOPES).openapi({ description: "hook: may only post agent hook events for the sessions of --host" }),
    host: NameSchema.optional().openapi({
      description: "Required for runner and hook tokens: the host whose commands it may claim, or whose sessions' hook events it may post",
    }),
    label: z.string().min(1).max(200).optional(),
  })
  .strict()
  .openapi("MintToken");

export const TokenInfo = z
  .object({
    id: z.string(),
    kind: z.enum(PRINCIPAL_KINDS),
    host: z.string().nullable(),
    session_id: z.string().nullable(),
    label: z.string().nullable(),
    created_at: z.string(),
    revoked_at: z.string().nullable().openapi({ description: "When the token stops (or stopped) working; in the future while a rotation's grace period runs" }),
    live: z.boolean().openapi({ description: "Whether the token is accepted now" }),
  })
  .openapi("TokenInfo");

export const MintTokenResult = z
  .object({
    token_id: z.string(),
    token: z.string().nullable().openapi({ description: "The secret; shown once (null in an Idempotency-Key replay)" }),
    info: TokenInfo,
    event_id: z.string(),
  })
  .openapi("MintTokenResult");

export const TokenListQuery = z.object({ ...PageQueryFields });

export const TokenList = z.object({ tokens: z.array(TokenInfo), count: z.number().int(), ...NextCursorField }).openapi("TokenList");

export const TokenIdParam = z.object({
  id: z
    .string()
    .regex(/^tok_[0-9a-z]+$/, "a token id like tok_...")
    .openapi({ param: { name: "id", in: "path" } }),
});

/** A token id, or `self` for the token making the request. */
export const RotateIdParam = z.object({
  id: z
    .string()
    .regex(/^(tok_[0-9a-z]+|self)$/, "a token id like tok_..., or self")
    .openapi({ param: { name: "id", in: "path" }, description: "The token to replace, or `self` for the token making this request" }),
});

/**
 * Shortest grace a rotation of the calling token may give it: the caller needs a window to
 * store the replacement (the CLI's `token rotate --owner-file` rewrites owner.token in it), or
 * an owner rotating its only owner token with grace 0 locks itself out. `token revoke` refuses
 * the calling token outright for the same reason.
 */
export const SELF_ROTATE_MIN_GRACE_SECONDS = 60;

/** Longest grace period a rotation may give the token it replaces. */
export const MAX_GRACE_SECONDS = 7 * 86_400;

export const RotateTokenBody = z
  .object({
    grace_seconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_GRACE_SECONDS)
      .optional()
      .default(0)
      .openapi({
        description: `Seconds the old token keeps working, so its users can switch (default 0: revoked at once; max ${MAX_GRACE_SECONDS}). Rotating the token the request uses needs at least ${SELF_ROTATE_MIN_GRACE_SECONDS}`,
      }),
  })
  .strict()
  .openapi("RotateToken");

export const RotateTokenResult = z
  .object({
    token_id: z.string().openapi({ description: "The replacement's id" }),
    token: z.string().nullable().openapi({ description: "The replacement's secret; shown once (null in an Idempotency-Key replay)" }),
    info: TokenInfo,
    replaced: z.object({ token_id: z.string(), revoked_at: z.string().openapi({ description: "When the old token stops working" }) }),
    event_id: z.string(),
  })
  .openapi("RotateTokenResult");

export const RevokeResult = z.object({ token_id: z.string(), revoked_at: z.string(), event_id: z.string() }).openapi("RevokeResult");
