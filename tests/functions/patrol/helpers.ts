import { makeCtx, type Ctx } from "../../../functions/lib/ctx.ts";
import type { StepId } from "../../../functions/patrol/dag.ts";
import { runPatrol } from "../../../functions/patrol/run.ts";
import type { TestEnv } from "../../helpers/services.ts";

/** A daemon context over a test env, as the patrol cron gets. */
export function daemonCtx(env: TestEnv): Ctx {
  return makeCtx(env.services, { kind: "daemon", tokenId: "tok_patrol_test" });
}

/** An owner context over a test env. */
export function ownerCtx(env: TestEnv): Ctx {
  return makeCtx(env.services, { kind: "owner", tokenId: "tok_owner_test" });
}

/** Runs the given patrol steps one by one (each its own run) and returns their reports. */
export async function runSteps(env: TestEnv, ...steps: StepId[]): Promise<Record<string, any>> {
  const out: Record<string, any> = {};
  for (const step of steps) {
    const r = await runPatrol(daemonCtx(env), { trigger: "cli", step });
    const s = r.steps[0]!;
    if (s.state !== "succeeded") throw new Error(`step ${step} ${s.state}: ${s.reason}`);
    out[step] = s.report;
  }
  return out;
}

/** The inbox items of a session, all of them (consumed or not), via the API. */
export async function inboxOf(env: TestEnv, session: string): Promise<any[]> {
  const res = await env.call("GET", `/v1/sessions/${session}/inbox?limit=500`);
  if (res.status !== 200) throw new Error(`inbox of ${session}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.items;
}

/** Pending owner notices. */
export async function ownerNotices(env: TestEnv, state = "pending"): Promise<any[]> {
  return (await env.call("GET", `/v1/notices?state=${state}&limit=500`)).body.notices;
}
