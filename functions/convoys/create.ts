import type { z } from "@hono/zod-openapi";
import { inArray } from "drizzle-orm";
import { convoys, convoyTasks, type ConvoyRow } from "../../schema/convoys.ts";
import { tasks } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { closeConvoyIfComplete } from "./complete.ts";
import { CreateConvoyBody, CreateConvoyResult } from "./schema.ts";
import { convoyFacts, convoyToWire } from "./wire.ts";

export const createConvoyRoute = defineRoute(["owner", "session"], {
  method: "post",
  path: "/convoys",
  tags: ["convoys"],
  summary: "Create a convoy tracking one or more tasks; it closes when all of them finish",
  description: "CLI: convoy create --title T --track TASK [--track TASK…] [--owner SESSION].",
  request: { body: jsonBody(CreateConvoyBody) },
  responses: { 201: jsonResponse(CreateConvoyResult, "Created") },
});

/** Creates a convoy with its tracked tasks in one batch; one already complete closes at once. */
export async function createConvoy(ctx: Ctx, input: z.output<typeof CreateConvoyBody>) {
  const names = [...new Set(input.tracks)];
  const found = await ctx.db.select().from(tasks).where(inArray(tasks.name, names));
  const missing = names.filter((n) => !found.some((t) => t.name === n));
  if (missing.length) {
    throw new ApiError("NOT_FOUND", `task(s) not found: ${missing.join(", ")}`, { hint: "Create them first: switchyard tasks --create NAME --goal G" });
  }
  let ownerSessionId: string | null = null;
  if (input.owner) ownerSessionId = (await activeSessionByName(ctx, input.owner)).id;
  else if (ctx.auth.kind === "session") ownerSessionId = ctx.auth.sessionId;
  if (ctx.auth.kind === "session" && ownerSessionId !== ctx.auth.sessionId) {
    throw new ApiError("FORBIDDEN", "a session may create a convoy only for itself", { hint: "Leave out owner." });
  }
  const row: ConvoyRow = {
    id: ctx.newId("cvy"),
    title: input.title,
    state: "open",
    ownerSessionId,
    createdBy: actorOf(ctx.auth),
    createdAt: ctx.now().getTime(),
    closedAt: null,
    closeReason: null,
    closeToken: null,
    reopenedAt: null,
  };
  const audit = auditInsert(ctx, { kind: "convoy_created", payload: { convoy_id: row.id, title: row.title, tracks: names } });
  await ctx.db.batch([
    ctx.db.insert(convoys).values(row),
    ctx.db.insert(convoyTasks).values(found.map((t) => ({ convoyId: row.id, taskId: t.id }))),
    audit.stmt,
  ]);
  if (found.every((t) => t.state === "finished")) await closeConvoyIfComplete(ctx, row);
  const [fresh] = await ctx.db
    .select()
    .from(convoys)
    .where(inArray(convoys.id, [row.id]));
  return { convoy: convoyToWire(fresh!, await convoyFacts(ctx, [fresh!])), convoy_id: row.id, event_id: audit.id };
}
