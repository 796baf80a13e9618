import { and, eq, ne } from "drizzle-orm";
import type { AdviceRequestRow } from "../../schema/broker.ts";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { researchPolicyOf } from "./wire.ts";
import { eqLiteral } from "../lib/sql.ts";

/** Why a request was held for the owner instead of drafted. */
export type PolicyBlock = "research_not_allowed" | "unknown_recipient" | "ambiguous_recipient";

/** The policy verdict: draft, or hold for the owner with a reason. */
export type PolicyVerdict = { ok: true } | { ok: false; block: PolicyBlock; reason: string };

/**
 * Phrases that mean the answer depends on information newer than what the context packet
 * holds. Deliberately broad: a false positive costs the owner one review, a false negative
 * would let a drafter present stale or invented facts as current.
 */
const RESEARCH_PATTERNS: RegExp[] = [
  /\b(latest|newest|most recent|up[- ]to[- ]date)\b/i,
  /\b(today'?s?|right now|as of (today|now)|this (week|month|year)'?s?)\b/i,
  /\bcurrent(ly)? (version|release|price|pricing|status of|state of the art|news|events|best practice|docs|documentation)\b/i,
  /\b(news|online|internet|on the web|web ?search|search the web|google it|browse|look (it |this |that )?up)\b/i,
  /https?:\/\/\S+/i,
];

/** The phrases of `text` that ask for online or current information. */
export function researchTriggers(text: string): string[] {
  const hits = new Set<string>();
  for (const re of RESEARCH_PATTERNS) {
    const m = re.exec(text);
    if (m) hits.add(m[0].toLowerCase());
  }
  return [...hits];
}

/**
 * The fail-closed checks run before any drafter sees a request. A request is held
 * (owner_input_required) when:
 * - its reply would have no clear recipient: the request came from no session (the owner or a
 *   daemon), from a session that no longer exists, or from one that was deregistered — and if
 *   another live session now carries that name, the recipient is ambiguous;
 * - it asks for online/current/latest information while its research policy is deny (the
 *   default; set per request at ingest, or changed by the owner with `broker retry`).
 */
export async function evaluatePolicy(ctx: Ctx, advice: AdviceRequestRow): Promise<PolicyVerdict> {
  if (!advice.requesterSessionId) {
    return { ok: false, block: "unknown_recipient", reason: "unknown_recipient: the request was not sent by a session, so a reply has no inbox to go to" };
  }
  const [requester] = await ctx.db.select().from(sessions).where(eq(sessions.id, advice.requesterSessionId)).limit(1);
  if (!requester) {
    return { ok: false, block: "unknown_recipient", reason: `unknown_recipient: the requesting session ${advice.requesterSessionId} does not exist` };
  }
  if (requester.state !== "active") {
    const [namesake] = await ctx.db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.name, requester.name), eqLiteral(sessions.state, "active"), ne(sessions.id, requester.id)))
      .limit(1);
    if (namesake) {
      return {
        ok: false,
        block: "ambiguous_recipient",
        reason: `ambiguous_recipient: the requester '${requester.name}' (${requester.id}) was deregistered and another live session (${namesake.id}) now has that name`,
      };
    }
    return { ok: false, block: "unknown_recipient", reason: `unknown_recipient: the requester '${requester.name}' (${requester.id}) has been deregistered` };
  }
  const triggers = researchTriggers(advice.requestText);
  if (triggers.length && researchPolicyOf(advice) !== "allow") {
    return {
      ok: false,
      block: "research_not_allowed",
      reason: `research_not_allowed: the request asks for online/current information (${triggers.map((t) => `"${t}"`).join(", ")}) and its research policy is deny`,
    };
  }
  return { ok: true };
}
