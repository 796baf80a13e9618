import type { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { auditInsert } from "../lib/audit.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { activeBinding, assertLoopParticipant } from "./access.ts";
import { AppWakeupDelivery, RECEIPT_KINDS, RecordDeliveryBody, StoredDispatchReceipt, WAKE_ACTION_STATUSES, type WakeActionStatus } from "./schema.ts";

export const recordDeliveryRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/app-loop/wakeup-deliveries",
    tags: ["app-loop"],
    summary: "Record what the app/operator layer did with one wake action",
    description:
      "The cited receipt must be an app_wakeup_dispatch_planned receipt of this task with an action for the role. sent is accepted only for a ready_to_send action with send_ready=true and the same thread_id; skipped only for skipped_healthy; blocked only for blocked_missing_thread. A session may record only as the task's bound manager. CLI: app-wakeup-record-delivery TASK --role R --dispatch-receipt ID --delivery-status S.",
    request: { params: TaskNameParam, body: jsonBody(RecordDeliveryBody) },
    responses: { 201: jsonResponse(AppWakeupDelivery, "Recorded") },
  },
  { idempotency: "atomic" },
);

type Input = z.infer<typeof RecordDeliveryBody>;
type StoredAction = z.infer<typeof StoredDispatchReceipt>["actions"][number];

/** The source action status each delivery status may be recorded against. */
const ACCEPTS: Record<Input["delivery_status"], WakeActionStatus> = {
  sent: "ready_to_send",
  skipped: "skipped_healthy",
  blocked: "blocked_missing_thread",
};

function refuse(message: string, hint: string): ApiError {
  return new ApiError("CONFLICT", message, { hint });
}

/** Applies the delivery rules to the action the receipt planned for this role. */
function checkDelivery(receiptId: string, action: StoredAction, input: Input): WakeActionStatus {
  const source = (WAKE_ACTION_STATUSES as readonly string[]).includes(action.status) ? (action.status as WakeActionStatus) : null;
  if (!source) {
    throw refuse(
      `receipt ${receiptId} has an unsupported ${input.role} action status '${action.status}'`,
      "Run app-wakeup-dispatch again and cite the new receipt.",
    );
  }
  const wanted = ACCEPTS[input.delivery_status];
  if (input.delivery_status === "sent") {
    if (source !== wanted || !action.send_ready) {
      throw refuse(
        `cannot record sent for the ${input.role}: receipt ${receiptId} planned ${source}${source === wanted ? " without send_ready" : ""}`,
        "Only a ready_to_send action with send_ready=true can be sent.",
      );
    }
    if (!input.thread_id) {
      throw new ApiError("VALIDATION_FAILED", "delivery_status sent requires thread_id", {
        hint: "Pass the thread the prompt was sent to (--thread-id).",
        fields: [{ field: "thread_id", message: "required when delivery_status is sent" }],
      });
    }
    if (input.thread_id !== action.thread_id) {
      throw refuse(
        `thread mismatch for the ${input.role}: receipt ${receiptId} targets ${action.thread_id ?? "(no thread)"}, not ${input.thread_id}`,
        "Send the prompt to the thread the receipt names.",
      );
    }
    return source;
  }
  if (source !== wanted) {
    throw refuse(
      `cannot record ${input.delivery_status} for the ${input.role}: receipt ${receiptId} planned ${source}`,
      `${input.delivery_status} is accepted only for ${wanted} actions.`,
    );
  }
  return source;
}

/**
 * app-wakeup-record-delivery: records a delivery outcome against an earlier dispatch receipt,
 * refusing any outcome the receipt did not plan for.
 */
export async function recordWakeupDelivery(ctx: Ctx, taskName: string, input: Input, respond?: number) {
  const task = await taskByName(ctx, taskName);
  const binding = await activeBinding(ctx, task.id);
  assertLoopParticipant(ctx, task.name, binding, ["manager"]);
  const [source] = await ctx.db.select().from(events).where(eq(events.id, input.dispatch_receipt)).limit(1);
  if (!source) {
    throw new ApiError("NOT_FOUND", `app wakeup dispatch receipt '${input.dispatch_receipt}' not found`, {
      hint: `Cite the event_id returned by: switchyard app-wakeup-dispatch ${task.name}`,
    });
  }
  if (source.kind !== RECEIPT_KINDS.dispatchPlanned) {
    throw refuse(`receipt ${source.id} is ${source.kind}, expected ${RECEIPT_KINDS.dispatchPlanned}`, "Cite the event_id returned by app-wakeup-dispatch.");
  }
  if (source.taskId !== task.id) {
    throw refuse(`receipt ${source.id} does not belong to task '${task.name}'`, "Cite a receipt produced for this task.");
  }
  const parsed = StoredDispatchReceipt.safeParse(source.payload);
  if (!parsed.success) {
    throw refuse(`receipt ${source.id} is not a well-formed app wakeup dispatch receipt`, "Run app-wakeup-dispatch again and cite the new receipt.");
  }
  // A plan made for an earlier pair of sessions says nothing about the pair bound now.
  if (parsed.data.binding_id && parsed.data.binding_id !== binding?.id) {
    throw refuse(
      `receipt ${source.id} was planned for binding ${parsed.data.binding_id}, not the task's current binding ${binding?.id ?? "(none)"}`,
      `Plan again for the current pair: switchyard app-wakeup-dispatch ${task.name}`,
    );
  }
  const action = parsed.data.actions.find((a) => a.role === input.role);
  if (!action) {
    throw refuse(`receipt ${source.id} has no ${input.role} wake action`, "Record the role the receipt planned for.");
  }
  const sourceStatus = checkDelivery(source.id, action, input);
  const threadId = input.thread_id ?? action.thread_id;
  const audit = auditInsert(ctx, {
    kind: RECEIPT_KINDS.deliveryRecorded,
    taskId: task.id,
    payload: {
      dispatch_receipt: source.id,
      role: input.role,
      delivery_status: input.delivery_status,
      reason: input.reason ?? null,
      source_action_status: sourceStatus,
      source_send_ready: action.send_ready,
      thread_id: threadId,
      thread_title: action.thread_title,
      dispatch_required: parsed.data.summary.dispatcher_required,
    },
  });
  const result = {
    task: { id: task.id, name: task.name },
    delivery: {
      role: input.role,
      status: input.delivery_status,
      reason: input.reason ?? null,
      thread_id: threadId,
      source_action_status: sourceStatus,
      source_send_ready: action.send_ready,
    },
    source: { dispatch_receipt: source.id, dispatch_required: parsed.data.summary.dispatcher_required, dispatcher: parsed.data.dispatcher },
    receipt: { event_id: audit.id, event_type: RECEIPT_KINDS.deliveryRecorded, recorded_at: iso(audit.row.createdAt)! },
    event_id: audit.id,
  };
  // Stored with the receipt it describes: a retry after a lost answer records nothing twice.
  await batchWithKey(ctx, [audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}
