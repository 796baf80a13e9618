import { z } from "@hono/zod-openapi";
import { GATE_STATES, GATE_TYPES } from "../../schema/gates.ts";
import { NameSchema } from "../lib/names.ts";
import { NextCursorField, PageQueryFields } from "../lib/paging.ts";

export const Gate = z
  .object({
    id: z.string(),
    type: z.enum(GATE_TYPES),
    title: z.string().nullable(),
    state: z.enum(GATE_STATES),
    timeout_seconds: z.number().nullable(),
    due_at: z.string().nullable(),
    waiters: z.array(z.string()),
    created_by: z.string(),
    created_at: z.string(),
    closed_at: z.string().nullable(),
    closed_by: z.string().nullable(),
    close_reason: z.string().nullable(),
  })
  .openapi("Gate");

export const CreateGateBody = z
  .object({
    type: z.enum(GATE_TYPES),
    timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .optional()
      .openapi({ description: "Required for a timer gate: seconds from now until it closes" }),
    title: z.string().min(1).max(500).optional(),
    waiters: z.array(NameSchema).max(100).optional().default([]).openapi({ description: "Sessions notified when the gate closes" }),
  })
  .strict()
  .openapi("CreateGate");

export const GateResult = z.object({ gate: Gate, gate_id: z.string(), event_id: z.string() }).openapi("GateResult");

export const CloseGateBody = z
  .object({ reason: z.string().min(1).max(2000).openapi({ description: "Why it closed; sent to the waiters" }) })
  .strict()
  .openapi("CloseGate");

export const CloseGateResult = z.object({ gate: Gate, gate_id: z.string(), notified: z.array(z.string()), event_id: z.string() }).openapi("CloseGateResult");

export const GateListQuery = z.object({
  state: z
    .enum([...GATE_STATES, "all"])
    .optional()
    .default("open"),
  ...PageQueryFields,
});

export const GateList = z.object({ gates: z.array(Gate), count: z.number().int(), ...NextCursorField }).openapi("GateList");

export const GateIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "id", in: "path" } }),
});
