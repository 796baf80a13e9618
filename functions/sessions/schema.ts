import { z } from "@hono/zod-openapi";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";
import { SESSION_ROLES, SESSION_STATES, TRANSCRIPT_KINDS } from "../../schema/sessions.ts";
import { NameSchema, QueryBool, QueryList } from "../lib/names.ts";

export const SESSION_KINDS = ["tmux", "codex_app", "claude_app"] as const;
export const RECEIVE_STYLES = ["push", "pull"] as const;
export const DELIVERY_MODES = ["push", "pull_required"] as const;

export const Communication = z
  .object({
    session_kind: z.enum(SESSION_KINDS),
    receive_style: z.enum(RECEIVE_STYLES),
    delivery_mode: z.enum(DELIVERY_MODES),
    poll_command: z.string().nullable().openapi({ description: "Inbox poll command for pull sessions" }),
  })
  .openapi("Communication");

export const Session = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(SESSION_ROLES),
    state: z.enum(SESSION_STATES),
    pid: z.number().int().nullable(),
    host: z.string().nullable(),
    cwd: z.string().nullable(),
    tmux_session: z.string().nullable(),
    transcript_path: z.string().nullable(),
    transcript_kind: z.enum(TRANSCRIPT_KINDS).nullable(),
    agent_session_id: z.string().nullable().openapi({ description: "The agent's own conversation id, from the transcript's first records" }),
    thread_id: z.string().nullable(),
    thread_title: z.string().nullable(),
    identity_token: z.string().nullable().openapi({ description: "Id of the session's bearer token (never the secret)" }),
    last_heartbeat_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    gone_at: z.string().nullable(),
    communication: Communication,
  })
  .openapi("Session");

const Path = z.string().min(1).max(4096);

/**
 * A plain tmux session name. Pane ids (`%3`), window or pane targets (`s:0.1`) and exact-match
 * markers (`=s`) are refused: a session names the pane its agent runs in, never another one.
 */
export const TmuxSessionName = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$/, "a plain tmux session name (letters, digits, '_' and '-'; no ':', '.', '%' or '=')");

export const RegisterBody = z
  .object({
    name: NameSchema,
    role: z.enum(SESSION_ROLES),
    pid: z.number().int().positive().optional(),
    codex_session: Path.optional().openapi({ description: "Codex rollout JSONL path" }),
    claude_session: Path.optional().openapi({ description: "Claude Code transcript JSONL path" }),
    cwd: Path.optional(),
    tmux_session: TmuxSessionName.optional(),
    host: z.string().min(1).max(200).optional(),
    thread_id: z.string().min(1).max(200).optional(),
    thread_title: z.string().min(1).max(500).optional(),
    force: z.boolean().optional().default(false).openapi({ description: "Owner only: register a transcript that another active session already has" }),
  })
  .strict()
  .openapi("RegisterSession");

export const RegisterResult = z
  .object({
    session: Session,
    session_id: z.string(),
    token: z.string().nullable().openapi({
      description:
        "Bearer token for this session; shown once. Null in an Idempotency-Key replay (secrets are never stored; see the Idempotent-Secrets-Withheld header).",
    }),
    communication: Communication,
    event_id: z.string(),
  })
  .openapi("RegisterResult");

/** Most names one list request may select: each is a read of its own. */
const MAX_LISTED_NAMES = 100;

export const ListQuery = z.object({
  role: z.enum(SESSION_ROLES).optional(),
  state: z.enum(["active", "gone", "all"]).optional().default("active"),
  name: QueryList.transform((names) => [...new Set(names)])
    .refine((names) => names.length <= MAX_LISTED_NAMES, {
      message: `at most ${MAX_LISTED_NAMES} different names per request; ask for the rest in another`,
    })
    .openapi({ description: `Repeat to select several sessions (at most ${MAX_LISTED_NAMES})` }),
  redact_identity_token: QueryBool,
  ...PageQueryFields,
});

export const SessionList = z.object({ sessions: z.array(Session), count: z.number().int(), ...NextCursorField }).openapi("SessionList");

export const NameParam = z.object({ name: NameSchema.openapi({ param: { name: "name", in: "path" } }) });

export const DeregisterResult = z.object({ session: Session, session_id: z.string(), event_id: z.string() }).openapi("DeregisterResult");

export const HeartbeatResult = z.object({ session_id: z.string(), last_heartbeat_at: z.string() }).openapi("HeartbeatResult");
