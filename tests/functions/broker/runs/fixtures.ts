import { eq } from "drizzle-orm";
import { makeCtx } from "../../../../functions/lib/ctx.ts";
import { makeId } from "../../../../functions/lib/ids.ts";
import { brokerTick } from "../../../../functions/broker/tick/tick.ts";
import type { AdviceFlow } from "../../../../functions/broker/tick/flow.ts";
import { adviceRequests, brokerEvents, brokerRuns } from "../../../../schema/broker.ts";
import { messages } from "../../../../schema/messages.ts";
import type { TestEnv } from "../../../helpers/services.ts";

/** Far enough ahead that expiry never interferes with a test that is not about it. */
export const FAR_FUTURE = "2099-01-01T00:00:00+00:00";

/** The runbook's bounded overnight contract, as a run-create body. */
export const BOUNDED_CONTRACT = {
  mode: "overnight_dry_run",
  objective: "Draft only within a one-hour supervised window",
  owner_session_id: "owner",
  target_session: "lily",
  message_type: "request",
  expires_at: FAR_FUTURE,
  limits: {
    max_runtime_minutes: 60,
    max_requests_total: 20,
    max_drafts_total: 20,
    max_sends_total: 0,
    max_sends_per_thread: 0,
    max_errors_total: 3,
    max_consecutive_errors: 2,
    max_duplicate_drafts: 1,
    max_idle_minutes: 30,
  },
  stop_conditions: ["missing_approval", "ambiguous_or_unknown_recipient", "runtime_or_budget_limit", "owner_kill_switch"],
  validation: {
    require_fields: ["owner_session_id"],
    require_stop_conditions: ["owner_kill_switch"],
    limit_min: { max_sends_total: 0 },
    limit_max: { max_sends_total: 0 },
  },
};

/** BOUNDED_CONTRACT as `switchyard broker run-create` flags (snake_case keys become --kebab-case). */
export function boundedContractArgv(): string[] {
  const c = BOUNDED_CONTRACT;
  const flag = (key: string) => `--${key.replaceAll("_", "-")}`;
  const pairs = (name: string, values: Record<string, number>) => Object.entries(values).flatMap(([k, v]) => [name, `${k}=${v}`]);
  return [
    "broker",
    "run-create",
    ...(["mode", "objective", "owner_session_id", "target_session", "message_type", "expires_at"] as const).flatMap((k) => [flag(k), c[k]]),
    ...Object.entries(c.limits).flatMap(([k, v]) => [flag(k), String(v)]),
    ...c.stop_conditions.flatMap((s) => ["--stop-condition", s]),
    ...c.validation.require_fields.flatMap((f) => ["--require-field", f]),
    ...c.validation.require_stop_conditions.flatMap((s) => ["--require-stop-condition", s]),
    ...pairs("--limit-min", c.validation.limit_min),
    ...pairs("--limit-max", c.validation.limit_max),
  ];
}

/** Creates a run through the API as the owner; fails the test on anything but 201. */
export async function createRun(env: TestEnv, body: Record<string, unknown>) {
  const res = await env.call("POST", "/v1/broker/runs", { body: { objective: "test run", ...body } });
  if (res.status !== 201) throw new Error(`run-create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.run_id as string;
}

/** Creates and starts a run as the owner. */
export async function startedRun(env: TestEnv, body: Record<string, unknown>) {
  const id = await createRun(env, body);
  const res = await env.call("POST", `/v1/broker/runs/${id}/start`);
  if (res.status !== 200) throw new Error(`run-start failed: ${res.status} ${JSON.stringify(res.body)}`);
  return id;
}

/** Writes a request message straight into the messages table, as a peer session's send would. */
export async function requestMessage(env: TestEnv, m: { to: string; from?: string | null; body?: string; project?: string | null; threadId?: string }) {
  const id = makeId("msg", env.clock.ms);
  await env.services.database.db.insert(messages).values({
    id,
    threadId: m.threadId ?? makeId("thr", env.clock.ms),
    correlationId: null,
    msgType: "request",
    fromSessionId: m.from ?? null,
    fromActor: m.from ? `session:${m.from}` : "owner:test",
    toSessionId: m.to,
    inReplyTo: null,
    project: m.project ?? null,
    subject: null,
    body: m.body ?? "How should I structure the retry loop in the ingest worker?",
    createdAt: env.clock.ms,
  });
  return id;
}

/** The daemon-principal ctx a daemon's tick runs with. */
export function daemonCtx(env: TestEnv) {
  return makeCtx(env.services, { kind: "daemon", tokenId: "tok_test_daemon" });
}

/** One tick of a run as a daemon, through the domain function (so a test may swap the flow). */
export function tick(env: TestEnv, runId: string, flow?: AdviceFlow, extra: Record<string, unknown> = {}) {
  return brokerTick(daemonCtx(env), { run_id: runId, holder: "daemon-a", ...extra }, flow);
}

/**
 * Ticks until the run stops, advancing the fake clock by `advanceSeconds` between ticks, and
 * returns the stopping tick's result and how many ticks it took. Fails if it never stops.
 */
export async function tickUntilStopped(
  env: TestEnv,
  runId: string,
  opts: { advanceSeconds?: number; maxTicks?: number; flow?: AdviceFlow; between?: (i: number) => Promise<void> } = {},
) {
  for (let i = 1; i <= (opts.maxTicks ?? 20); i++) {
    const result = await tick(env, runId, opts.flow);
    if (result.stopped) return { result, ticks: i };
    await opts.between?.(i);
    env.clock.advance(opts.advanceSeconds ?? 60);
  }
  throw new Error(`run ${runId} did not stop within ${opts.maxTicks ?? 20} ticks`);
}

/** The run row as stored. */
export async function runRow(env: TestEnv, id: string) {
  const [row] = await env.services.database.db.select().from(brokerRuns).where(eq(brokerRuns.id, id));
  return row!;
}

/** The run's broker events, oldest first. */
export async function runEventRows(env: TestEnv, id: string) {
  return env.services.database.db.select().from(brokerEvents).where(eq(brokerEvents.runId, id)).orderBy(brokerEvents.id);
}

/** The run's advice rows. */
export async function runAdvice(env: TestEnv, id: string) {
  return env.services.database.db.select().from(adviceRequests).where(eq(adviceRequests.runId, id));
}
