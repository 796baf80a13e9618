import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { runCli } from "../../../local-runner/cli/main.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout, holdOpen, type Holder } from "../../helpers/transcripts.ts";

let env: TestEnv | null = null;
const servers: Server[] = [];
const holders: Holder[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  for (const h of holders.splice(0)) await h.stop();
  env?.close();
});

/** A plain HTTP server on 127.0.0.1 answering every request with `body`. */
async function listen(body: unknown): Promise<number> {
  const s = createServer((_req, res) => {
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify(body));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as AddressInfo).port;
}

describe("doctor: ports and dispatch heartbeats", () => {
  it("tells a Switchyard on the port from another program, and a free port", async () => {
    env = await makeTestEnv();
    const ours = await listen({ ok: true, db: "ok", time: new Date().toISOString() });
    const other = await listen({ hello: "world" });
    const r1 = await env.call("GET", `/v1/admin/doctor?port=${ours}`);
    expect(r1.body.ports).toEqual([{ port: ours, listening: true, switchyard: true }]);
    expect(r1.body.problems.map((p: any) => p.check)).not.toContain("port");
    const r2 = await env.call("GET", `/v1/admin/doctor?port=${other}`);
    expect(r2.body.ports).toEqual([{ port: other, listening: true, switchyard: false }]);
    expect(r2.body.problems.find((p: any) => p.check === "port").hint).toContain("--port");
    await new Promise((r) => servers.pop()!.close(r));
    const r3 = await env.call("GET", `/v1/admin/doctor?port=${other}`);
    expect(r3.body.ports[0].listening).toBe(false);
    expect((await env.call("GET", "/v1/admin/doctor?port=70000")).status).toBe(400);
  });

  it("lists running dispatchers with their heartbeat age and flags a stale one", async () => {
    env = await makeTestEnv();
    await dispatchPass(makeCtx(env.services, { kind: "daemon", tokenId: "tok_d" }), DISPATCH_PLUGINS, { dispatcherId: "doc-dispatch", route: true });
    const fresh = await env.call("GET", "/v1/admin/doctor");
    expect(fresh.body.dispatch.dispatchers).toEqual([expect.objectContaining({ id: "doc-dispatch", heartbeat_age_seconds: 0 })]);
    expect(fresh.body.problems.map((p: any) => p.check)).not.toContain("dispatch");
    env.clock.advance(600);
    const stale = await env.call("GET", "/v1/admin/doctor");
    expect(stale.body.dispatch.dispatchers[0].heartbeat_age_seconds).toBe(600);
    expect(stale.body.problems.find((p: any) => p.check === "dispatch").message).toContain("doc-dispatch");
  });
});

describe("doctor-self", () => {
  it("finds a session's own transcript from a pid in its process tree, and only there", async () => {
    env = await makeTestEnv();
    const path = codexRollout(env, "self");
    const holder = await holdOpen(path);
    holders.push(holder);
    const s = await registerSession(env, "worker", { pid: holder.pid, codex_session: path });
    const mine = await env.call("GET", `/v1/admin/doctor-self?pid=${holder.pid}`, { token: s.token });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({
      ok: true,
      token_works: true,
      principal: "session",
      session: s.session.name,
      transcript: { discoverable: true, kind: "codex", holder_pid: holder.pid, matches_registration: true },
    });
    expect(mine.body.transcript.path).toMatch(/rollout-self\.jsonl$/);

    // Another process's tree: refused, and nothing about it is looked up or shown.
    const other = await holdOpen(codexRollout(env, "other"));
    holders.push(other);
    const theirs = await env.call("GET", `/v1/admin/doctor-self?pid=${other.pid}`, { token: s.token });
    expect(theirs.body).toMatchObject({ ok: false, transcript: { discoverable: null, path: null } });
    expect(theirs.body.problems.map((p: any) => p.check)).toEqual(["pid"]);

    // The owner may check any pid and sees the path.
    const owner = await env.call("GET", `/v1/admin/doctor-self?pid=${other.pid}`);
    expect(owner.body.transcript).toMatchObject({ discoverable: true, path: expect.stringMatching(/rollout-other\.jsonl$/) });
    expect((await env.call("GET", "/v1/admin/doctor-self", { token: await env.mint("daemon") })).status).toBe(403);
    expect((await env.call("GET", "/v1/admin/doctor-self", { token: null })).status).toBe(401);
  });

  it("the CLI adds PATH and tmux, and exits 1 when a check fails", async () => {
    env = await makeTestEnv();
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, "write").mockImplementation((t) => {
      out.push(String(t));
      return true;
    });
    let code: number;
    try {
      code = await runCli(["doctor-self", "--json", "--home", env.dir], { out: (t) => out.push(t), err: (t) => out.push(t) });
    } finally {
      write.mockRestore();
    }
    const report = JSON.parse(out.join(""));
    expect(report).toMatchObject({ token_works: true, principal: "owner", cli_on_path: expect.any(Boolean), inside_tmux: !!process.env.TMUX });
    expect(code).toBe(report.ok ? 0 : 1);
    expect(report.ok).toBe(report.problems.length === 0);
  });
});
