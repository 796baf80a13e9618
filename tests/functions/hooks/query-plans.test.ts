import { appendFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { routeCompletions } from "../../../functions/messages/routing.ts";
import { boundPair, registerSession } from "../../helpers/factories.ts";
import { captureStatements, planProblems } from "../../helpers/query-plans.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { claudeTranscript, codexMeta, codexRollout } from "../../helpers/transcripts.ts";

let env: TestEnv;
afterEach(() => env?.close());

describe("hook query plans", () => {
  it("serve ingestion, its effects, hook reads and the turn-keyed routing from indexes: no scan of a growing table, no temp B-tree", async () => {
    env = await makeTestEnv();
    // Some history first, so the planner sees real tables.
    for (let i = 0; i < 3; i++) await boundPair(env);
    const rollout = codexRollout(env, "q", codexMeta("thread-q"));
    const pair = await boundPair(env, { worker: { codex_session: rollout } });
    const w = pair.worker.session.name;
    const token = (await env.call("POST", `/v1/sessions/${w}/hook-token`)).body.token as string;
    const hostToken = (await env.call("POST", "/v1/tokens", { body: { scope: "hook", host: "test-host" } })).body.token as string;
    const other = claudeTranscript(env, "claude-q", "");
    await registerSession(env, "worker", { claude_session: other });

    const seen = captureStatements(env);
    const base = { session_id: "thread-q", transcript_path: rollout, cwd: env.dir };
    for (const [i, e] of ["UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop", "PreCompact", "PostCompact"].entries()) {
      const res = await env.call("POST", "/v1/hooks/codex", { token, body: { ...base, turn_id: "turn-q", hook_event_name: e, tool_name: "Bash", n: i } });
      expect(res.status).toBe(200);
    }
    await env.call("POST", "/v1/hooks/codex", {
      token,
      // The new rollout exists, so the switch's checks (including "no other active session has it") run.
      body: {
        ...base,
        hook_event_name: "SessionStart",
        source: "clear",
        session_id: "thread-q2",
        transcript_path: codexRollout(env, "q2", codexMeta("thread-q2")),
      },
    });
    // Host token: matched by agent session id, then by transcript path.
    await env.call("POST", "/v1/hooks/claude", {
      token: hostToken,
      body: { hook_event_name: "UserPromptSubmit", session_id: "claude-q", transcript_path: other },
    });
    await env.call("POST", "/v1/hooks/claude", { token: hostToken, body: { hook_event_name: "Stop", session_id: "claude-q", transcript_path: "/x.jsonl" } });
    await env.call("POST", "/v1/hooks/codex", {
      token: hostToken,
      body: { hook_event_name: "Stop", session_id: "thread-unknown", transcript_path: "/y.jsonl" },
    });
    await env.call("GET", `/v1/sessions/${w}/hook-state`);
    await env.call("GET", `/v1/sessions/${w}/hook-events?limit=2`);
    // A new hook token for the session revokes its earlier ones.
    expect((await env.call("POST", `/v1/sessions/${w}/hook-token`)).status).toBe(201);
    // Cycle and routing are other groups' queries; only those this work added are judged here.
    const before = seen.length;
    appendFileSync(
      rollout,
      `${JSON.stringify({ timestamp: new Date().toISOString(), type: "event_msg", payload: { type: "task_complete", turn_id: "turn-q" } })}\n`,
    );
    await env.call("POST", `/v1/tasks/${pair.task.task.name}/cycle`, { body: {} });
    await env.call("GET", `/v1/tasks/${pair.task.task.name}/divergences`);
    await routeCompletions(makeCtx(env.services, { kind: "daemon", tokenId: "tok_q" }));

    const ours = [...seen.slice(0, before), ...seen.slice(before).filter((c) => /hook_|:turn:|^SELECT turn_id/i.test(c.sql))];
    const { explained, problems } = await planProblems(env, ours, {
      small: new Set(["__drizzle_migrations"]),
      openWorkIndexes: ["bindings_active_task_uq", "bindings_active_worker_uq"],
    });
    expect(explained).toBeGreaterThan(10);
    expect(problems).toEqual([]);
  });
});
