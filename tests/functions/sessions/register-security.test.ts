// Registration is how a principal points Switchyard at files and panes, so it is where reading
// files and typing into panes it does not own is stopped: transcript paths under the agent's
// roots and really that agent's, plain tmux session names whose pane is the agent's, --pid
// accepting only what that process tree holds, and the same agent registered again being the
// same session.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { transcriptRootsFromEnv } from "../../../local-runner/host/transcripts.ts";
import { NodeHost } from "../../../local-runner/host.ts";
import { createTask, registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { claudeRecord, claudeTranscript, codexMeta, codexRollout, holdOpen, type Holder } from "../../helpers/transcripts.ts";
import { killTmux, startFakeTui } from "../actuate/fake-tui.ts";

let env: TestEnv;
let runner: string;
const holders: Holder[] = [];
const tmuxSessions: string[] = [];
const children: ChildProcess[] = [];
let seq = 0;

beforeEach(async () => {
  env = await makeTestEnv();
  // A runner token for the server's own host: the principal the probe used.
  runner = await env.mint("runner", "test-host");
});
afterEach(async () => {
  for (const h of holders.splice(0)) await h.stop();
  for (const t of tmuxSessions.splice(0)) await killTmux(env, t);
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  env.close();
});

const register = (body: Record<string, unknown>, token: string | undefined = runner) =>
  env.call("POST", "/v1/sessions", { token, body: { name: `s${++seq}`, role: "worker", ...body } });
const sessionCount = async () => Number((await env.services.database.client.execute("SELECT count(*) AS n FROM sessions")).rows[0]!.n);

/** A tmux session running a plain shell-like process: an operator's pane, not an agent. */
async function operatorPane(): Promise<string> {
  const name = `sy-sec-op-${process.pid}-${++seq}`;
  await env.services.host!.tmuxNewSession({ name, cwd: env.dir, command: ["sleep", "600"], width: 80, height: 20 });
  tmuxSessions.push(name);
  return name;
}

describe("transcript paths", () => {
  it("refuses a runner registering /etc/passwd, a symlink to it, or another session's transcript, and stores nothing", async () => {
    const link = codexRollout(env, "innocent", null);
    symlinkSync("/etc/passwd", link);
    const taken = codexRollout(env, "taken");
    const owner = await registerSession(env, "worker", { codex_session: taken });
    for (const path of ["/etc/passwd", link]) {
      const res = await register({ codex_session: path });
      expect(res.status, path).toBe(422);
      expect(res.body.error.code).toBe("PATH_NOT_ALLOWED");
      expect(JSON.stringify(res.body)).not.toMatch(/root:/);
    }
    const theirs = await register({ codex_session: taken });
    expect(theirs.status).toBe(409);
    expect(theirs.body.error.code).toBe("TRANSCRIPT_TAKEN");
    expect(theirs.body.error.message).toContain(owner.session.name);
    // Forcing is the owner's call only.
    expect((await register({ codex_session: taken, force: true })).status).toBe(403);
    expect(await sessionCount()).toBe(1);
    expect((await register({ codex_session: taken, force: true }, env.owner)).status).toBe(201);
  });

  it("answers a runner the same for a missing path and a forbidden one, so registration cannot probe for files", async () => {
    const missing = await register({ codex_session: codexRollout(env, "not-there", null) });
    const outside = await register({ codex_session: "/etc/hostname" });
    const notRollout = await register({ codex_session: codexRollout(env, "junk", '{"hello":"world"}\n') });
    const shape = (r: typeof missing, path: string) => [r.status, r.body.error.code, r.body.error.message.replace(path, "P"), r.body.error.hint];
    expect(shape(missing, codexRollout(env, "not-there", null))).toEqual(shape(outside, "/etc/hostname"));
    expect(shape(notRollout, codexRollout(env, "junk", null))).toEqual(shape(outside, "/etc/hostname"));
    expect(missing.status).toBe(422);
  });

  it("tells the owner exactly what is wrong: missing, outside the roots (naming them), or not that agent's transcript", async () => {
    const missing = await register({ codex_session: codexRollout(env, "gone", null) }, env.owner);
    expect(missing.body.error.code).toBe("PATH_NOT_FOUND");
    const outside = await register({ codex_session: join(env.dir, "rollout-x.jsonl") }, env.owner);
    writeFileSync(join(env.dir, "rollout-x.jsonl"), codexMeta());
    const outsideNow = await register({ codex_session: join(env.dir, "rollout-x.jsonl") }, env.owner);
    expect([outside.body.error.code, outsideNow.body.error.code]).toEqual(["PATH_NOT_FOUND", "PATH_NOT_ALLOWED"]);
    expect(outsideNow.body.error.hint).toContain(env.codexSessions);
    expect(outsideNow.body.error.hint).toContain("SWITCHYARD_TRANSCRIPT_ROOTS");
    // A Claude transcript is not a Codex rollout, even under the Codex root.
    const claudeish = codexRollout(env, "claudeish", claudeRecord("c0ffee00-0000-4000-8000-000000000001"));
    const wrongKind = await register({ codex_session: claudeish }, env.owner);
    expect(wrongKind.body.error).toMatchObject({ code: "PATH_NOT_ALLOWED", message: expect.stringMatching(/session_meta/) });
    expect(await sessionCount()).toBe(0);
  });

  it("records the agent's own session id and cwd from the first records (Codex and Claude Code)", async () => {
    const rollout = codexRollout(env, "ids", codexMeta("019a0000-aaaa-7000-8000-000000000001", "/src/app"));
    const id = "c0ffee00-0000-4000-8000-000000000002";
    const claude = claudeTranscript(env, id, claudeRecord(id) + claudeRecord(id, { type: "user", cwd: "/src/web", message: { role: "user", content: "hi" } }));
    const a = await register({ codex_session: rollout });
    const b = await register({ claude_session: claude });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.body.session.cwd).toBe("/src/app");
    expect(b.body.session.cwd).toBe("/src/web");
    const rows = await env.services.database.client.execute("SELECT name, agent_session_id FROM sessions ORDER BY created_at");
    expect(rows.rows.map((r) => r.agent_session_id)).toEqual(["019a0000-aaaa-7000-8000-000000000001", id]);
  });

  it("accepts transcripts under roots the owner configures (SWITCHYARD_TRANSCRIPT_ROOTS)", async () => {
    const extra = join(env.dir, "archive");
    env.services.host = new NodeHost({ codexHome: join(env.dir, "codex-home"), transcriptRoots: [extra] });
    const rollout = codexRollout({ codexSessions: extra, claudeProjects: extra }, "archived");
    expect((await register({ codex_session: rollout })).status).toBe(201);
    expect(transcriptRootsFromEnv({ SWITCHYARD_TRANSCRIPT_ROOTS: "/a/b:relative:/c/" }, { home: "/home/u" })).toEqual({
      codex: ["/home/u/.codex/sessions", "/a/b", "/c"],
      claude: ["/home/u/.claude/projects", "/a/b", "/c"],
    });
  });
});

describe("tmux panes", () => {
  it("accepts only plain session names: no pane ids, window or pane targets, or exact-match markers", async () => {
    for (const target of ["x:0.0", "%1", "=other:", "other:", "a.b", "-t"]) {
      const res = await register({ tmux_session: target, host: "elsewhere" }, env.owner);
      expect(res.status, target).toBe(400);
      expect(res.body.error.fields.map((f: any) => f.field)).toEqual(["tmux_session"]);
    }
    expect(await sessionCount()).toBe(0);
  });

  it("refuses a tmux session that does not exist, and a pane that is not the agent's", async () => {
    const missing = await register({ tmux_session: "sy-sec-no-such-session" }, env.owner);
    expect([missing.status, missing.body.error.code]).toEqual([404, "NOT_FOUND"]);
    const op = await operatorPane();
    const rollout = codexRollout(env, "agent");
    const agent = await holdOpen(rollout);
    holders.push(agent);
    const notTheirs = await register({ pid: agent.pid, codex_session: rollout, tmux_session: op });
    expect(notTheirs.status).toBe(422);
    expect(notTheirs.body.error.code).toBe("PANE_NOT_OWNED");
    // Without a pid, the pane's own processes must hold the transcript.
    const noPid = await register({ codex_session: rollout, tmux_session: op });
    expect(noPid.body.error.code).toBe("PANE_NOT_OWNED");
    // And a runner cannot claim a bare pane at all.
    expect((await register({ tmux_session: op })).body.error.code).toBe("PANE_NOT_OWNED");
    expect(await sessionCount()).toBe(0);
  });

  it("checks the pane again before typing: a session whose pane is now someone else's is refused and the pane gets nothing", async () => {
    const tui = await startFakeTui(env);
    tmuxSessions.push(tui.tmux);
    const w = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout });
    const op = await operatorPane();
    // As if the row had been registered through a server that could not check it.
    await env.services.database.client.execute({ sql: "UPDATE sessions SET tmux_session = ? WHERE id = ?", args: [op, w.session_id] });
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/nudge`, { body: { text: "rm -rf nothing-here" } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("PANE_NOT_OWNED");
    expect(await env.services.host!.tmuxCapturePane(op)).not.toContain("rm -rf");
  });

  it("shows pid, cwd, tmux session, transcript path and agent ids only to the session itself, its task partners, the owner and the daemon", async () => {
    const tui = await startFakeTui(env);
    tmuxSessions.push(tui.tmux);
    const w = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout, cwd: "/secret/repo", thread_id: "thr-secret-1" });
    const m = await registerSession(env, "manager");
    const task = await createTask(env);
    await env.call("POST", "/v1/bindings", { body: { task: task.task.name, worker: w.session.name, manager: m.session.name } });
    const stranger = await registerSession(env, "worker");
    const details = (s: any) => [s.pid, s.cwd, s.tmux_session, s.transcript_path, s.agent_session_id, s.thread_id];
    const as = async (token: string) => (await env.call("GET", `/v1/sessions/${w.session.name}`, { token })).body.session;
    const hidden = [null, null, null, null, null, null];
    const agentId = (await env.call("GET", `/v1/sessions/${w.session.name}`)).body.session.agent_session_id;
    expect(agentId).toEqual(expect.any(String));
    const all = [expect.any(Number), "/secret/repo", tui.tmux, tui.rollout, agentId, "thr-secret-1"];
    expect(details(await as(stranger.token))).toEqual(hidden);
    expect(details(await as(m.token))).toEqual(all);
    expect(details(await as(w.token))).toEqual(all);
    const listed = (await env.call("GET", "/v1/sessions", { token: stranger.token })).body.sessions.find((s: any) => s.name === w.session.name);
    expect(details(listed)).toEqual(hidden);
    const shown = (await env.call("GET", `/v1/tasks/${task.task.name}`, { token: stranger.token })).body;
    expect(details(shown.worker)).toEqual(hidden);
    const discovered = JSON.stringify((await env.call("GET", "/v1/discover", { token: stranger.token })).body);
    for (const secret of [tui.rollout, agentId, "thr-secret-1"]) expect(discovered).not.toContain(secret);
    expect(details(await as(await env.mint("daemon")))).toEqual(all);
  });
});

/** A session leader with two children: one idle, one holding `path` open. Same Unix session, unrelated by descent. */
async function siblings(path: string): Promise<{ idle: number; holder: number }> {
  const script = `
    const { spawn } = require("child_process");
    const idle = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    const holder = spawn(process.execPath, ["-e", ${JSON.stringify(`require("fs").openSync(${JSON.stringify(path)}, "a"); setInterval(() => {}, 1000)`)}], { stdio: "ignore" });
    console.log(JSON.stringify({ idle: idle.pid, holder: holder.pid }));
    setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"], detached: true });
  children.push(parent);
  const pids = await new Promise<{ idle: number; holder: number }>((resolve) => parent.stdout!.once("data", (d) => resolve(JSON.parse(String(d)))));
  // Until the holder has the file open, there is nothing to find either way.
  const deadline = Date.now() + 10_000;
  while (!readdirSync(`/proc/${pids.holder}/fd`).some((fd) => readlinkSafe(`/proc/${pids.holder}/fd/${fd}`) === path)) {
    if (Date.now() > deadline) throw new Error("holder never opened the file");
    await new Promise((r) => setTimeout(r, 50));
  }
  return pids;
}

function readlinkSafe(p: string): string | null {
  try {
    return readlinkSync(p);
  } catch {
    return null;
  }
}

describe("strict registration (--pid, re-registration)", () => {
  afterEach(() => {
    // The grandchildren are ours too: kill them by the pids their parent reported.
    for (const c of children) if (c.pid && existsSync(`/proc/${c.pid}`)) process.kill(-c.pid, "SIGKILL");
  });

  it("accepts for --pid only a transcript held by that process or its descendants, never by an unrelated process of the same Unix session", async () => {
    const rollout = codexRollout(env, "sibling");
    const { idle, holder } = await siblings(rollout);
    const discovered = await register({ pid: idle });
    expect(discovered.status).toBe(422);
    expect(discovered.body.error.code).toBe("PATH_NOT_FOUND");
    const explicit = await register({ pid: idle, codex_session: rollout });
    expect(explicit.status).toBe(422);
    expect(explicit.body.error.code).toBe("PATH_NOT_ALLOWED");
    expect(await sessionCount()).toBe(0);
    // The holder itself is fine.
    const own = await register({ pid: holder });
    expect(own.status).toBe(201);
    expect(own.body.session.transcript_path).toBe(rollout);
  });

  it("makes registering the same name with the same identity idempotent: same session, a working new token, ingest cursor reset", async () => {
    const rollout = codexRollout(env, "again");
    const agent = await holdOpen(rollout);
    holders.push(agent);
    const body = { name: "same-agent", role: "worker", pid: agent.pid, codex_session: rollout };
    const first = await env.call("POST", "/v1/sessions", { token: runner, body });
    expect(first.status).toBe(201);
    writeFileSync(
      rollout,
      `${codexMeta()}${JSON.stringify({ timestamp: "2026-11-21T12:00:00.000Z", type: "event_msg", payload: { type: "task_started" } })}\n`,
    );
    const ingested = await env.call("POST", "/v1/sessions/same-agent/ingest", { token: first.body.token });
    expect(ingested.body.new_offset).toBeGreaterThan(0);

    const again = await env.call("POST", "/v1/sessions", { token: runner, body });
    expect(again.status).toBe(201);
    expect(again.body.session_id).toBe(first.body.session_id);
    expect(again.body.token).not.toBe(first.body.token);
    expect(await sessionCount()).toBe(1);
    const reread = await env.call("POST", "/v1/sessions/same-agent/ingest", { token: again.body.token });
    expect(reread.status).toBe(200);
    // Read again from byte 0, storing nothing twice.
    expect(reread.body).toMatchObject({ previous_offset: 0, new_offset: ingested.body.new_offset, new_events: 0 });
    const stored = await env.services.database.client.execute("SELECT count(*) AS n FROM transcript_events");
    expect(Number(stored.rows[0]!.n)).toBe(ingested.body.new_events);
    // The first token still works too.
    expect((await env.call("POST", "/v1/sessions/same-agent/heartbeat", { token: first.body.token })).status).toBe(200);
    const kinds = await env.services.database.client.execute("SELECT kind FROM events WHERE session_id = ? ORDER BY rowid", [first.body.session_id]);
    expect(kinds.rows.map((r) => r.kind)).toEqual(["session_registered", "session_reregistered"]);

    // A different agent under the same name is still refused.
    const other = await env.call("POST", "/v1/sessions", {
      token: runner,
      body: { name: "same-agent", role: "manager", pid: agent.pid, codex_session: rollout },
    });
    expect(other.body.error.code).toBe("NAME_TAKEN");
  });
});
