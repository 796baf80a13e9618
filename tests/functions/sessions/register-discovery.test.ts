import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { codexRollout } from "../../helpers/transcripts.ts";

let env: TestEnv;
const children: ChildProcess[] = [];
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  env.close();
});

/** A process that opens `path` (creating it) and keeps it open, printing "ready" once it has. */
async function holder(path: string | null): Promise<number> {
  const script = path
    ? `const fs=require("fs");const fd=fs.openSync(${JSON.stringify(path)},"a");fs.writeSync(fd,"");console.log("ready");setInterval(()=>{},1000)`
    : `console.log("ready");setInterval(()=>{},1000)`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`holder exited ${code}`)));
  });
  return child.pid!;
}

describe("register --pid discovers the transcript", () => {
  it("finds a Codex rollout held open by the pid and records it", async () => {
    const rollout = codexRollout(env, "2026-11-21T05-00-00-abc");
    const pid = await holder(rollout);
    const res = await env.call("POST", "/v1/sessions", { body: { name: "found", role: "manager", pid } });
    expect(res.status).toBe(201);
    expect(res.body.session).toMatchObject({ pid, transcript_path: rollout, transcript_kind: "codex" });
    expect(res.body.communication.session_kind).toBe("codex_app");
  });

  it("says to type a prompt first (or pass the path) when nothing is open yet", async () => {
    const pid = await holder(null);
    const res = await env.call("POST", "/v1/sessions", { body: { name: "fresh", role: "worker", pid } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("PATH_NOT_FOUND");
    expect(res.body.error.hint).toMatch(/Type a prompt/);
    expect(res.body.error.hint).toMatch(/--codex-session/);
    expect((await env.call("GET", "/v1/sessions?state=all")).body.count).toBe(0);
  });

  it("refuses a pid that is not running", async () => {
    const pid = await holder(null);
    children[0]!.kill("SIGKILL");
    await new Promise((r) => children[0]!.once("exit", r));
    const res = await env.call("POST", "/v1/sessions", { body: { name: "dead", role: "worker", pid } });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain(String(pid));
  });
});
