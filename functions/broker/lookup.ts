import { eq } from "drizzle-orm";
import { adviceRequests, orchestratorJobs, type AdviceRequestRow, type OrchestratorJobRow } from "../../schema/broker.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";

/** An advice request and its job, or NOT_FOUND. */
export async function loadAdvice(ctx: Ctx, id: string): Promise<{ advice: AdviceRequestRow; job: OrchestratorJobRow | null }> {
  const [advice] = await ctx.db.select().from(adviceRequests).where(eq(adviceRequests.id, id)).limit(1);
  if (!advice) throw notFound("advice request", id, "List the queue with `switchyard broker queue --state all`.");
  const [job] = await ctx.db.select().from(orchestratorJobs).where(eq(orchestratorJobs.adviceId, id)).limit(1);
  return { advice, job: job ?? null };
}
