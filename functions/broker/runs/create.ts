import type { z } from "@hono/zod-openapi";
import { brokerEvents, brokerRuns, type BrokerRunRow } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { withWriteTransaction } from "../../lib/db.ts";
import { ApiError, type FieldIssue } from "../../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../../lib/route.ts";
import { brokerEventValues } from "../wire.ts";
import { CreateRunBody, LIMIT_NAMES, MANDATORY_STOP_CONDITIONS, RunResult, STOP_CONDITIONS, ValidationSchema, type LimitName } from "./schema.ts";
import { runToWire } from "./wire.ts";

export const createRunRoute = defineRoute(["owner"], {
  method: "post",
  path: "/broker/runs",
  tags: ["broker runs"],
  summary: "Create a broker run contract (mode, scope, limits, stop conditions, validation schema)",
  description:
    "The contract is checked against its own validation schema before it is stored. overnight_dry_run refuses any send budget but 0. The run does nothing until the owner starts it. CLI: broker run-create.",
  request: { body: jsonBody(CreateRunBody) },
  responses: { 201: jsonResponse(RunResult, "Created") },
});

type CreateInput = z.infer<typeof CreateRunBody>;

/** Checks a would-be contract against its validation schema; returns every violation. */
export function validationIssues(contract: Record<string, unknown>, stopConditions: readonly string[], schema: z.infer<typeof ValidationSchema>): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const f of schema.require_fields) {
    if (contract[f] === null || contract[f] === undefined) issues.push({ field: f, message: `the validation schema requires ${f} to be set` });
  }
  for (const c of schema.require_stop_conditions) {
    if (!stopConditions.includes(c)) issues.push({ field: "stop_conditions", message: `the validation schema requires stop condition ${c}` });
  }
  for (const [bound, limits] of [
    ["min", schema.limit_min],
    ["max", schema.limit_max],
  ] as const) {
    for (const [name, v] of Object.entries(limits)) {
      if (v === undefined) continue;
      const actual = contract[name];
      if (typeof actual !== "number")
        issues.push({ field: `limits.${name}`, message: `the validation schema bounds ${name} (${bound} ${v}) but it is not set` });
      else if (bound === "min" ? actual < v : actual > v)
        issues.push({ field: `limits.${name}`, message: `${name}=${actual} is ${bound === "min" ? "below the minimum" : "above the maximum"} ${v}` });
    }
  }
  return issues;
}

/** Applies the mode's fixed rules to the limits: a dry run's send budgets are 0 and only 0. */
function limitsForMode(input: CreateInput): { limits: Partial<Record<LimitName, number>>; issues: FieldIssue[] } {
  const limits = { ...input.limits };
  const issues: FieldIssue[] = [];
  if (input.mode === "overnight_dry_run") {
    for (const name of ["max_sends_total", "max_sends_per_thread"] as const) {
      if (limits[name] !== undefined && limits[name] !== 0)
        issues.push({ field: `limits.${name}`, message: `overnight_dry_run never sends, so ${name} must be 0 (got ${limits[name]})` });
      limits[name] = 0;
    }
  }
  return { limits, issues };
}

/** Creates a run contract in state `created`; nothing runs until the owner starts it. */
export async function createRun(ctx: Ctx, input: CreateInput) {
  const nowMs = ctx.now().getTime();
  const { limits, issues } = limitsForMode(input);
  const expiresAt = input.expires_at === undefined ? null : Date.parse(input.expires_at);
  if (expiresAt !== null && expiresAt <= nowMs) issues.push({ field: "expires_at", message: `${input.expires_at} is already past` });
  // Stored in declaration order, so the contract reads the same way it was written.
  const declared = new Set([...input.stop_conditions, ...MANDATORY_STOP_CONDITIONS]);
  const stopConditions = STOP_CONDITIONS.filter((c) => declared.has(c));
  const validation = input.validation ?? ValidationSchema.parse({});
  const contract: Record<string, unknown> = {
    objective: input.objective,
    project: input.project,
    target_session: input.target_session,
    owner_session_id: input.owner_session_id,
    message_type: input.message_type,
    expires_at: input.expires_at,
    ...Object.fromEntries(LIMIT_NAMES.map((n) => [n, limits[n]])),
  };
  issues.push(...validationIssues(contract, stopConditions, validation));
  if (issues.length) {
    throw new ApiError("VALIDATION_FAILED", `the run contract is invalid: ${issues.map((i) => `${i.field}: ${i.message}`).join("; ")}`, {
      hint: "Fix the contract (or its validation schema) and create it again.",
      fields: issues,
    });
  }
  const row: BrokerRunRow = {
    id: ctx.newId("run"),
    mode: input.mode,
    state: "created",
    objective: input.objective,
    project: input.project ?? null,
    targetSession: input.target_session ?? null,
    ownerSessionId: input.owner_session_id ?? null,
    messageType: input.message_type,
    expiresAt,
    limits: limits as Record<string, number>,
    stopConditions,
    validation,
    requestsTotal: 0,
    draftsTotal: 0,
    sendsTotal: 0,
    errorsTotal: 0,
    consecutiveErrors: 0,
    duplicateDrafts: 0,
    lastActivityAt: null,
    leaseOwner: null,
    leaseExpiresAt: null,
    startedAt: null,
    stoppedAt: null,
    stopReason: null,
    createdAt: nowMs,
    updatedAt: nowMs,
  };
  const eventId = await withWriteTransaction(ctx.db, async (tx) => {
    await tx.insert(brokerRuns).values(row);
    const [e] = await tx
      .insert(brokerEvents)
      .values(
        brokerEventValues(ctx, {
          kind: "run_created",
          runId: row.id,
          payload: { mode: row.mode, limits: row.limits, stop_conditions: stopConditions, by: ctx.auth.kind },
        }),
      )
      .returning({ id: brokerEvents.id });
    return e!.id;
  });
  return { run: runToWire(row, nowMs), run_id: row.id, event_id: eventId };
}
