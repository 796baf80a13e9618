import { z } from "@hono/zod-openapi";
import { PLAN_STATUSES } from "../../schema/coordination.ts";
import { NameSchema } from "../lib/names.ts";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";

/** A claimed path: relative or absolute, `/`-separated, no `..` segments, globs allowed. */
export const ClaimPath = z
  .string()
  .min(1)
  .max(1024)
  // Judged as stored: the path is trimmed first (normalizeClaimPath), so `src/x/.. ` is `src/x/..`.
  .refine((p) => p.trim().length > 0, "must not be blank")
  .refine((p) => !p.trim().split("/").includes(".."), "must not contain '..' segments")
  .refine((p) => !/[\u0000-\u001f]/.test(p), "must not contain control characters");

export const Claim = z
  .object({
    id: z.string(),
    path: z.string(),
    base: z.string(),
    session: z.string(),
    session_id: z.string(),
    exclusive: z.boolean(),
    note: z.string().nullable(),
    task_id: z.string().nullable(),
    created_at: z.string(),
    expires_at: z.string(),
    released_at: z.string().nullable(),
    live: z.boolean(),
  })
  .openapi("Claim");

export const AddClaimBody = z
  .object({
    path: ClaimPath.openapi({ description: "A path or glob, e.g. src/auth/** or README.md" }),
    session: NameSchema.openapi({ description: "Who holds it (a session token may claim only for itself)" }),
    ttl_seconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400),
    exclusive: z.boolean().optional().default(false),
    note: z.string().min(1).max(1000).optional(),
    task: NameSchema.optional(),
  })
  .strict()
  .openapi("AddClaim");

export const AddClaimResult = z.object({ claim: Claim, claim_id: z.string(), refreshed: z.boolean(), event_id: z.string() }).openapi("AddClaimResult");

export const ClaimListQuery = z.object({
  state: z.enum(["live", "all"]).optional().default("live"),
  session: NameSchema.optional(),
  ...PageQueryFields,
});

export const ClaimList = z.object({ claims: z.array(Claim), count: z.number().int(), ...NextCursorField }).openapi("ClaimList");

export const IdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const ReleaseClaimResult = z.object({ claim: Claim, event_id: z.string() }).openapi("ReleaseClaimResult");

export const Plan = z
  .object({
    id: z.string(),
    title: z.string(),
    body: z.string().nullable(),
    status: z.enum(PLAN_STATUSES),
    owner: z.string().nullable().openapi({ description: "Owning session; null means the owner" }),
    task: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Plan");

export const CreatePlanBody = z
  .object({
    title: z.string().min(1).max(500),
    body: z.string().min(1).max(20_000).optional(),
    status: z.enum(PLAN_STATUSES).optional().default("draft"),
    owner: NameSchema.optional(),
    task: NameSchema.optional(),
  })
  .strict()
  .openapi("CreatePlan");

export const PlanResult = z.object({ plan: Plan, plan_id: z.string(), event_id: z.string() }).openapi("PlanResult");

export const PlanStatusBody = z
  .object({ status: z.enum(PLAN_STATUSES) })
  .strict()
  .openapi("PlanStatus");

export const PlanListQuery = z.object({
  status: z
    .enum([...PLAN_STATUSES, "all"])
    .optional()
    .default("all"),
  ...PageQueryFields,
});

export const PlanList = z.object({ plans: z.array(Plan), count: z.number().int(), ...NextCursorField }).openapi("PlanList");

export const Note = z
  .object({ id: z.string(), text: z.string(), task: z.string().nullable(), session: z.string().nullable(), author: z.string(), created_at: z.string() })
  .openapi("RuntimeNote");

export const AddNoteBody = z
  .object({ text: z.string().min(1).max(4000), task: NameSchema.optional(), session: NameSchema.optional() })
  .strict()
  .openapi("AddRuntimeNote");

export const NoteResult = z.object({ note: Note, note_id: z.string(), event_id: z.string() }).openapi("RuntimeNoteResult");

export const NoteListQuery = z.object({ task: NameSchema.optional(), ...PageQueryFields });

export const NoteList = z.object({ notes: z.array(Note), count: z.number().int(), ...NextCursorField }).openapi("RuntimeNoteList");
