import { eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tokens } from "../../../schema/auth.ts";
import { sessions } from "../../../schema/sessions.ts";
import { deregister, registerSession, withNewEvents } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { claudeTranscript, codexMeta, codexRollout, holdOpen } from "../../helpers/transcripts.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("POST /v1/sessions", () => {
  it("registers a worker and returns its token once, with the communication block", async () => {
    // On another host nothing is checked here, so a tmux name alone is enough.
    const res = await env.call("POST", "/v1/sessions", { body: { name: "w1", role: "worker", host: "build-3", tmux_session: "codex-w1" } });
    expect(res.status).toBe(201);
    expect(res.body.session.name).toBe("w1");
    expect(res.body.token).toMatch(/^sy_session_/);
    expect(res.body.communication).toEqual({ session_kind: "tmux", receive_style: "push", delivery_mode: "push", poll_command: null });
    const list = await env.call("GET", "/v1/sessions");
    expect(list.body.sessions.map((s: any) => s.name)).toEqual(["w1"]);
    expect(JSON.stringify(list.body)).not.toContain(res.body.token);
  });

  it("stores the session row, a hashed session token and exactly one session_registered event", async () => {
    const { result: res, events } = await withNewEvents(env, () =>
      env.call("POST", "/v1/sessions", { body: { name: "m1", role: "manager", cwd: "/repo", thread_title: "plan" } }),
    );
    expect(res.status).toBe(201);
    const [row] = await env.services.database.db.select().from(sessions).where(eq(sessions.id, res.body.session_id));
    expect(row).toMatchObject({ name: "m1", role: "manager", state: "active", cwd: "/repo", host: "test-host", threadTitle: "plan" });
    const [tok] = await env.services.database.db.select().from(tokens).where(eq(tokens.id, row!.tokenId!));
    expect(tok).toMatchObject({ kind: "session", sessionId: res.body.session_id, revokedAt: null });
    expect(tok!.secretHash).not.toContain(res.body.token);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "session_registered", sessionId: res.body.session_id, id: res.body.event_id });
  });

  it("gives an app session without tmux a pull communication block with a poll command", async () => {
    const res = await env.call("POST", "/v1/sessions", { body: { name: "app1", role: "worker", host: "elsewhere", claude_session: "/x.jsonl" } });
    expect(res.status).toBe(201);
    expect(res.body.communication).toEqual({
      session_kind: "claude_app",
      receive_style: "pull",
      delivery_mode: "pull_required",
      poll_command: "switchyard session-inbox app1 --consume-next --wait --json",
    });
  });

  it("refuses a second active session with the same name and writes nothing", async () => {
    await env.call("POST", "/v1/sessions", { body: { name: "dup", role: "worker" } });
    const { result: res, events } = await withNewEvents(env, () => env.call("POST", "/v1/sessions", { body: { name: "dup", role: "manager" } }));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("NAME_TAKEN");
    expect(res.body.error.hint).toContain("deregister");
    expect(events).toHaveLength(0);
    expect(await env.services.database.db.select().from(sessions).where(eq(sessions.name, "dup"))).toHaveLength(1);
  });

  it("lets a name be reused once its session is deregistered", async () => {
    const first = await registerSession(env, "worker", { name: "again" });
    await deregister(env, "again");
    const res = await env.call("POST", "/v1/sessions", { body: { name: "again", role: "worker" } });
    expect(res.status).toBe(201);
    expect(res.body.session_id).not.toBe(first.session_id);
  });

  it("checks a local transcript path exists (PATH_NOT_FOUND) and accepts one that does", async () => {
    const missing = await env.call("POST", "/v1/sessions", { body: { name: "c1", role: "worker", codex_session: codexRollout(env, "nope", null) } });
    expect(missing.status).toBe(422);
    expect(missing.body.error.code).toBe("PATH_NOT_FOUND");
    expect(missing.body.error.hint).toContain("--codex-session");
    const claudeMissing = await env.call("POST", "/v1/sessions", { body: { name: "c1", role: "worker", claude_session: claudeTranscript(env, "nope", null) } });
    expect(claudeMissing.body.error.hint).toContain("--claude-session");
    expect(await env.services.database.db.select().from(sessions)).toHaveLength(0);

    const file = codexRollout(env, "c1", codexMeta("019a-thread", "/repo/c1"));
    const ok = await env.call("POST", "/v1/sessions", { body: { name: "c1", role: "worker", codex_session: file } });
    expect(ok.status).toBe(201);
    // The agent's own id and cwd come from the rollout's session_meta.
    expect(ok.body.session).toMatchObject({ transcript_path: file, transcript_kind: "codex", cwd: "/repo/c1" });
    const [row] = await env.services.database.db.select().from(sessions).where(eq(sessions.id, ok.body.session_id));
    expect(row!.agentSessionId).toBe("019a-thread");
  });

  it("does not check transcript paths of sessions on another host", async () => {
    const res = await env.call("POST", "/v1/sessions", { body: { name: "far", role: "worker", host: "other-box", codex_session: "/not/here.jsonl" } });
    expect(res.status).toBe(201);
    expect(res.body.session.host).toBe("other-box");
  });

  it("refuses both transcript kinds at once, naming the field", async () => {
    const res = await env.call("POST", "/v1/sessions", { body: { name: "both", role: "worker", host: "x", codex_session: "/a", claude_session: "/b" } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    expect(res.body.error.fields).toEqual([{ field: "claude_session", message: "conflicts with codex_session" }]);
  });

  it("lists every invalid field, including unknown ones", async () => {
    const res = await env.call("POST", "/v1/sessions", { body: { name: "bad name!", role: "boss", pid: -1, colour: "red" } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    expect(res.body.error.fields.map((f: any) => f.field).sort()).toEqual(["colour", "name", "pid", "role"]);
  });

  it("records the pid's start time for a live local pid", async () => {
    const file = codexRollout(env, "me");
    const holder = await holdOpen(file);
    try {
      const res = await env.call("POST", "/v1/sessions", { body: { name: "me", role: "worker", pid: holder.pid, codex_session: file } });
      expect(res.status).toBe(201);
      const [row] = await env.services.database.db.select().from(sessions).where(eq(sessions.id, res.body.session_id));
      expect(row!.pid).toBe(holder.pid);
      expect(row!.pidStartedAt).toBeTypeOf("number");
    } finally {
      await holder.stop();
    }
  });

  it("lets a runner register on its own host and defaults the host to it", async () => {
    const runner = await env.mint("runner", "build-box");
    const res = await env.call("POST", "/v1/sessions", { token: runner, body: { name: "rw", role: "worker" } });
    expect(res.status).toBe(201);
    expect(res.body.session.host).toBe("build-box");
    const [row] = await env.services.database.db.select().from(sessions).where(eq(sessions.name, "rw"));
    expect(row!.host).toBe("build-box");
  });

  it("refuses a runner registering a session on another host", async () => {
    const runner = await env.mint("runner", "build-box");
    const res = await env.call("POST", "/v1/sessions", { token: runner, body: { name: "rw", role: "worker", host: "other-box" } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("FORBIDDEN");
  });

  it("refuses session and daemon principals and callers without a token", async () => {
    const w = await registerSession(env, "worker");
    const daemon = await env.mint("daemon");
    const body = { name: "w3", role: "worker" };
    expect((await env.call("POST", "/v1/sessions", { token: w.token, body })).body.error.code).toBe("FORBIDDEN");
    expect((await env.call("POST", "/v1/sessions", { token: daemon, body })).status).toBe(403);
    const anon = await env.call("POST", "/v1/sessions", { token: null, body });
    expect(anon.status).toBe(401);
    expect(anon.body.error.code).toBe("UNAUTHENTICATED");
  });
});
