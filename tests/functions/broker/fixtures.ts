import { eq } from "drizzle-orm";
import { adviceRequests, brokerRuns, orchestratorJobs, type RunMode, type RunState } from "../../../schema/broker.ts";
import { messages, type MessageRow } from "../../../schema/messages.ts";
import { makeId } from "../../../functions/lib/ids.ts";
import { boundPair, registerSession } from "../../helpers/factories.ts";
import type { TestEnv } from "../../helpers/services.ts";

/** A requester bound to a task (as its worker) and the advisor session it asks. */
export async function requesterAndAdvisor(env: TestEnv) {
  const pair = await boundPair(env);
  const advisor = await registerSession(env, "manager");
  return { requester: pair.worker, manager: pair.manager, task: pair.task, advisor };
}

/** Writes a message row directly, the way the dispatch routes store one. */
export async function insertMessage(
  env: TestEnv,
  m: {
    from: string | null;
    to: string;
    body: string;
    msgType?: MessageRow["msgType"];
    project?: string | null;
    threadId?: string;
    subject?: string | null;
    inReplyTo?: string | null;
  },
): Promise<MessageRow> {
  const row: MessageRow = {
    id: makeId("msg", env.clock.ms),
    threadId: m.threadId ?? makeId("thr", env.clock.ms),
    correlationId: null,
    msgType: m.msgType ?? "request",
    fromSessionId: m.from,
    fromActor: m.from ? `session:${m.from}` : "owner:tok_test",
    toSessionId: m.to,
    inReplyTo: m.inReplyTo ?? null,
    project: m.project ?? null,
    subject: m.subject ?? null,
    body: m.body,
    createdAt: env.clock.ms,
    advisedAt: null,
  };
  await env.services.database.db.insert(messages).values(row);
  env.clock.advance(1);
  return row;
}

/** Ingests a message through the API and returns the wire result. */
export async function ingest(env: TestEnv, messageId: string, body: Record<string, unknown> = {}) {
  const res = await env.call("POST", `/v1/broker/messages/${messageId}/ingest`, { body });
  if (res.status !== 201 && res.status !== 200) throw new Error(`ingest failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** One orchestrator pass through the API. */
export async function watch(env: TestEnv, body: Record<string, unknown> = {}, token?: string) {
  const res = await env.call("POST", "/v1/orchestrator/watch", { body: { once: true, ...body }, token });
  if (res.status !== 200) throw new Error(`watch failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A request from the requester to the advisor, ingested and drafted: the advice is draft_ready. */
export async function draftedAdvice(env: TestEnv, text = "How should I split the session module? I tried one file per route.") {
  const ids = await requesterAndAdvisor(env);
  const msg = await insertMessage(env, { from: ids.requester.session_id, to: ids.advisor.session_id, body: text, subject: "module split" });
  const ingested = await ingest(env, msg.id);
  await watch(env);
  return { ...ids, msg, adviceId: ingested.advice_id as string, jobId: ingested.job_id as string };
}

/** Inserts a broker run row directly (run contracts are created by the runs routes). */
export async function insertRun(env: TestEnv, mode: RunMode, state: RunState = "running") {
  const id = makeId("run", env.clock.ms);
  await env.services.database.db.insert(brokerRuns).values({
    id,
    mode,
    state,
    objective: "test run",
    limits: {},
    stopConditions: [],
    validation: {},
    createdAt: env.clock.ms,
    updatedAt: env.clock.ms,
  });
  return id;
}

/** The advice row as stored. */
export async function adviceRow(env: TestEnv, id: string) {
  const [row] = await env.services.database.db.select().from(adviceRequests).where(eq(adviceRequests.id, id));
  return row!;
}

/** The job row as stored. */
export async function jobRow(env: TestEnv, id: string) {
  const [row] = await env.services.database.db.select().from(orchestratorJobs).where(eq(orchestratorJobs.id, id));
  return row!;
}
