import type { DrafterCommand } from "../lib/ctx.ts";
import { MAX_ADVICE_CHARS } from "./schema.ts";

/** Which drafter a processing pass uses; `auto` is the external one when configured. */
export type DrafterChoice = "auto" | "builtin" | "external";

/** A drafter failure; the job is marked failed with this message (never an empty draft). */
export class DrafterError extends Error {
  override name = "DrafterError";
}

/** A finished draft and what produced it. */
export interface Draft {
  text: string;
  meta: Record<string, unknown>;
}

// The packet is stored JSON; these read it defensively because an old or hand-made packet may
// lack a section.
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string | null => (typeof v === "string" && v.trim() !== "" ? v : null);
const oneLine = (s: string, max: number) => {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/**
 * The built-in drafter: deterministic (the same packet always gives the same text), offline,
 * and built only from what the packet holds. It restates the question, lists what the context
 * shows, proposes next steps that follow from it, and names what is still unclear, so the owner
 * edits a useful starting point instead of writing from nothing.
 */
export function builtinDraft(packet: Obj): string {
  const request = obj(packet.request);
  const requester = obj(packet.requester);
  const session = requester.session ? obj(requester.session) : null;
  const binding = requester.binding ? obj(requester.binding) : null;
  const task = requester.task ? obj(requester.task) : null;
  const thread = obj(packet.thread);
  const messages = arr(thread.messages);
  const activity = arr(packet.recent_activity);
  const body = str(request.body) ?? "";
  const who = str(request.from_session) ?? "the requesting session";
  const lower = body.toLowerCase();

  const facts: string[] = [];
  if (task) facts.push(`Task: ${task.name} (${task.state})${str(task.goal) ? ` — goal: ${oneLine(String(task.goal), 200)}` : ""}.`);
  else facts.push(`${who} is not bound to an active task.`);
  if (binding) {
    facts.push(
      `You are the ${binding.requester_role} on it; worker ${binding.worker} is ${binding.worker_state ?? "unknown"}, manager ${binding.manager} is ${binding.manager_state ?? "unknown"}.`,
    );
  }
  if (session)
    facts.push(
      `Your session last sent a heartbeat at ${session.last_heartbeat_at ?? "no recorded time"}${str(session.cwd) ? ` and works in ${session.cwd}` : ""}.`,
    );
  const earlier = messages.filter((m) => m.id !== request.message_id);
  const replies = earlier.filter((m) => m.msg_type === "reply");
  facts.push(
    earlier.length
      ? `This thread has ${earlier.length} earlier message(s)${replies.length ? `, including ${replies.length} reply(ies); the last reply said: "${oneLine(String(replies[replies.length - 1]!.body ?? ""), 160)}"` : ", none of them a reply"}.`
      : "This is the first message in its thread.",
  );
  const failures = activity.filter((e) => /fail|error|dead|timeout|stuck/i.test(String(e.kind)));
  if (activity.length) {
    const kinds = [...new Set(activity.map((e) => String(e.kind)))].slice(0, 6).join(", ");
    facts.push(`Recent activity (${activity.length} event(s), newest ${activity[0]!.created_at}): ${kinds}.`);
  } else facts.push("No recent audit activity is recorded for you or your task.");
  if (failures.length) facts.push(`The most recent failure-like event is ${failures[0]!.kind} at ${failures[0]!.created_at}.`);

  const steps: string[] = [];
  if (failures.length) steps.push(`Start from the latest failure (${failures[0]!.kind}): reproduce it with the exact command and keep the full output.`);
  if (/\b(error|fail(s|ed|ing)?|broken|crash(es|ed)?|exception)\b/.test(lower))
    steps.push("Reproduce the error with one exact command and paste the complete message into this thread.");
  if (/\btests?\b/.test(lower)) steps.push("Run the smallest failing test on its own first; fix that before widening to the whole suite.");
  if (/\b(should i|which|or|choose|decide|option)\b/.test(lower))
    steps.push("Write down the options with one trade-off each, and pick the one that keeps the change smallest and easiest to undo.");
  if (task && str(task.goal)) steps.push(`Check the change against the task goal ("${oneLine(String(task.goal), 120)}") before adding scope.`);
  steps.push("Make one small, verifiable change, then report what you ran and what you saw on this thread.");

  const open: string[] = [];
  if (!task) open.push("Which task is this for? Nothing binds you to one, so the context may be missing the goal.");
  if (!body.includes("?")) open.push("What exact decision or answer do you need? The request states no question.");
  if (!/\b(tried|attempted|ran|already)\b/.test(lower)) open.push("What have you already tried, and what happened?");
  if (replies.length) open.push("What changed since the last reply on this thread?");

  const subject = str(request.subject);
  return [
    `Advice for ${who}${subject ? ` — re: ${oneLine(subject, 120)}` : ""}`,
    "",
    "Your question, as I understand it:",
    `  ${oneLine(body, 600)}`,
    "",
    "What the context shows:",
    ...facts.map((f) => `- ${f}`),
    "",
    "Suggested next steps:",
    ...steps.map((s, i) => `${i + 1}. ${s}`),
    ...(open.length ? ["", "Open questions:", ...open.map((q) => `- ${q}`)] : []),
  ].join("\n");
}

/**
 * Validates an external drafter's stdout: one JSON object whose `draft` is a non-empty string
 * of at most MAX_ADVICE_CHARS. Other fields are kept as metadata.
 */
export function parseDrafterOutput(stdout: string, label: string): Draft {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new DrafterError(`drafter '${label}' printed invalid JSON: ${oneLine(stdout, 200) || "(empty output)"}`);
  }
  const out = obj(parsed);
  if (typeof out.draft !== "string" || out.draft.trim() === "")
    throw new DrafterError(`drafter '${label}' returned no draft: expected {"draft": "<non-empty text>"}`);
  if (out.draft.length > MAX_ADVICE_CHARS)
    throw new DrafterError(`drafter '${label}' returned a draft of ${out.draft.length} chars; the limit is ${MAX_ADVICE_CHARS}`);
  const { draft, ...rest } = out;
  return { text: draft, meta: { drafter: "external", command: label, output: rest } };
}

/**
 * Drafts advice for a packet with the chosen drafter. Throws DrafterError when the external
 * drafter is asked for but not configured, fails, times out or answers invalid output.
 */
export async function draftAdvice(packet: Obj, external: DrafterCommand | undefined, choice: DrafterChoice = "auto"): Promise<Draft> {
  if (choice === "builtin" || (choice === "auto" && !external)) return { text: builtinDraft(packet), meta: { drafter: "builtin" } };
  if (!external) throw new DrafterError("the external drafter was requested but none is configured (set SWITCHYARD_BROKER_DRAFTER)");
  let stdout: string;
  try {
    stdout = await external.run(JSON.stringify(packet));
  } catch (e) {
    throw new DrafterError(`drafter '${external.label}' failed: ${(e as Error).message}`);
  }
  return parseDrafterOutput(stdout, external.label);
}
