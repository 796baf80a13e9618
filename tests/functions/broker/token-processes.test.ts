import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { approvalTokens } from "../../../schema/broker.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { draftedAdvice, insertRun } from "./fixtures.ts";
import { go, spawnWorker } from "../../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./token-consumer-worker.ts", import.meta.url));
const PROCESSES = 3;
const ATTEMPTS = 5;
const MAX_USES = 4;

type Line = { ready?: true; ok?: boolean; reason?: string };

function startConsumer(args: string[]) {
  return spawnWorker<Line>(WORKER, args);
}

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("approval token uses across processes", () => {
  it("several processes racing for one token get exactly max_uses uses between them", { timeout: 120_000 }, async () => {
    const { requester, msg } = await draftedAdvice(env);
    const runId = await insertRun(env, "scoped_auto_send");
    const created = await env.call("POST", "/v1/broker/tokens", {
      body: { run_id: runId, to_session: requester.session_id, thread_id: msg.threadId, max_uses: MAX_USES, expires_minutes: 7 * 24 * 60 },
    });
    expect(created.status).toBe(201);
    // The processes use the real clock; a week-long token stays live for them unless the fake clock is far behind it.
    const args = [env.services.database.url, created.body.secret, runId, requester.session_id, msg.threadId, String(ATTEMPTS)];
    const procs = Array.from({ length: PROCESSES }, () => startConsumer(args));
    try {
      await Promise.all(procs.map((p) => p.ready));
      go(procs);
      const codes = await Promise.all(procs.map((p) => p.exit));
      expect(codes, procs.map((p) => p.stderr.join("")).join("\n")).toEqual(Array(PROCESSES).fill(0));
    } finally {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGKILL");
    }
    const verdicts = procs.flatMap((p) => p.lines);
    expect(verdicts).toHaveLength(PROCESSES * ATTEMPTS);
    expect(verdicts.filter((v) => v.ok)).toHaveLength(MAX_USES);
    expect(verdicts.filter((v) => !v.ok).every((v) => v.reason === "overused")).toBe(true);
    const [row] = await env.services.database.db.select().from(approvalTokens);
    expect(row!.uses).toBe(MAX_USES);
  });
});
