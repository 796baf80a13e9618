import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { acceptanceCriteria } from "../../schema/supervision.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { supervisedTask } from "./access.ts";

export const CriteriaPlanBody = z
  .object({ text: z.string().min(1).max(200_000).openapi({ description: "A worker response listing must-have criteria and follow-ups" }) })
  .strict()
  .openapi("CriteriaPlanRequest");

const Suggestion = z.object({
  criterion: z.string(),
  kind: z.enum(["must_have", "follow_up"]),
  status: z.enum(["accepted", "deferred"]),
  already_recorded: z.boolean(),
  command: z.string(),
});

export const CriteriaPlan = z
  .object({ task: z.string(), suggestions: z.array(Suggestion), must_have: z.number().int(), follow_up: z.number().int(), ignored_lines: z.number().int() })
  .openapi("CriteriaPlan");

export const criteriaPlanRoute = defineRoute(
  ["owner", "daemon", "session"],
  {
    method: "post",
    path: "/tasks/{name}/criteria-plan",
    tags: ["supervision"],
    summary: "Draft criteria commands from a worker response (read-only)",
    description:
      "Reads list items under must-have / current-task headings as criteria to accept and items under follow-up / later / deferred headings as criteria to defer. Changes nothing: it only prints suggestions. CLI: criteria-plan TASK --from-text|--from-worker-response PATH|--from-stdin.",
    request: { params: TaskNameParam, body: jsonBody(CriteriaPlanBody) },
    responses: { 200: jsonResponse(CriteriaPlan, "Suggestions") },
  },
  { idempotency: "atomic" },
);

const MUST = /must[- ]?have|current[- ]task|required|acceptance criteria|in scope/i;
const LATER = /follow[- ]?up|later|deferred|out of scope|future|nice[- ]to[- ]have/i;
/*
 * A list item. Linear on any line: no two quantifiers here can take the same characters (the
 * text starts at its first non-blank), and the caller trims. The old form's `\s+(.+?)\s*$`
 * backtracked in cubic time on a line of spaces ending in a lone carriage return: one 6 kB
 * request held the event loop for 12 s.
 */
const ITEM = /^[^\S\r\n]*(?:[-*•]|\d+[.)]|\[[ x]\])[^\S\r\n]+(\S.*)$/i;

/** Shell-quotes a value for a suggested command line. */
function quote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/**
 * Splits a worker response into must-have and follow-up items by the heading each list item sits
 * under. List items before any recognised heading are ignored rather than guessed at.
 */
export function parseCriteriaText(text: string): { items: Array<{ criterion: string; kind: "must_have" | "follow_up" }>; ignored: number } {
  let section: "must_have" | "follow_up" | null = null;
  const items: Array<{ criterion: string; kind: "must_have" | "follow_up" }> = [];
  let ignored = 0;
  // A lone \r ends a line too, so no line holds one.
  for (const line of text.split(/\r\n|\r|\n/)) {
    // Trailing blanks go first (linearly), so the pattern needs no `\s*$` of its own.
    const m = ITEM.exec(line.trimEnd());
    if (!m) {
      if (LATER.test(line)) section = "follow_up";
      else if (MUST.test(line)) section = "must_have";
      continue;
    }
    const criterion = m[1]!.replace(/\*\*/g, "").trim();
    if (!criterion) continue;
    if (section) items.push({ criterion, kind: section });
    else ignored++;
  }
  return { items, ignored };
}

/** Suggests `criteria --add` commands for a worker response; read-only. */
export async function planCriteria(ctx: Ctx, name: string, input: z.infer<typeof CriteriaPlanBody>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const { items, ignored } = parseCriteriaText(input.text);
  const existing = new Set(
    (await ctx.db.select({ c: acceptanceCriteria.criterion }).from(acceptanceCriteria).where(eq(acceptanceCriteria.taskId, st.task.id))).map((r) =>
      r.c.trim().toLowerCase(),
    ),
  );
  const suggestions = items.map((i) => {
    const status = i.kind === "must_have" ? ("accepted" as const) : ("deferred" as const);
    return {
      criterion: i.criterion,
      kind: i.kind,
      status,
      already_recorded: existing.has(i.criterion.toLowerCase()),
      command: `switchyard criteria ${st.task.name} --add --criterion ${quote(i.criterion)} --source worker_proposed --status ${status}`,
    };
  });
  return {
    task: st.task.name,
    suggestions,
    must_have: suggestions.filter((s) => s.kind === "must_have").length,
    follow_up: suggestions.filter((s) => s.kind === "follow_up").length,
    ignored_lines: ignored,
  };
}
