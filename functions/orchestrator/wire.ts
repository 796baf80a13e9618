import type { z } from "@hono/zod-openapi";
import type { OrchestratorJobRow } from "../../schema/broker.ts";
import { iso } from "../lib/sql.ts";
import type { Job } from "./schema.ts";

/** The wire form of an orchestrator job. */
export function jobToWire(j: OrchestratorJobRow): z.infer<typeof Job> {
  return {
    id: j.id,
    advice_id: j.adviceId,
    state: j.state,
    attempts: j.attempts,
    max_attempts: j.maxAttempts,
    claimed_by: j.claimedBy,
    claim_generation: j.claimGeneration,
    lease_expires_at: iso(j.leaseExpiresAt),
    last_error: j.lastError,
    created_at: iso(j.createdAt)!,
    updated_at: iso(j.updatedAt)!,
    finished_at: iso(j.finishedAt),
  };
}
