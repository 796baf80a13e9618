import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startUp, type Running } from "../../local-runner/up.ts";
import { killTmux, startFakeTui, userMessages } from "../functions/actuate/fake-tui.ts";
import { registerSession } from "../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

/**
 * A remote runner end to end: a real server (startUp on port 0) queues host commands for
 * sessions on two "machines"; a `switchyard runner` OS process holding a runner token for one of
 * them claims that host's commands over HTTP, runs them against a real tmux pane with its own
 * NodeHost, and reports each attempt. The other host's command is never touched.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "switchyard.mjs");

let env: TestEnv;
let up: Running | undefined;
const panes: string[] = [];
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(async () => {
  for (const p of panes.splice(0)) await killTmux(env, p);
  // stop() closes the database; close() would close it again.
  if (up) await up.stop();
  else env.services.database.close();
  up = undefined;
});

describe("switchyard runner", () => {
  it("claims only its host's commands over HTTP, executes them with the local Host and reports the attempts", { timeout: 120_000 }, async () => {
    const tui = await startFakeTui(env);
    panes.push(tui.tmux);
    // Registered for a host the server cannot reach, so nothing is checked here; the runner checks
    // the pane against the agent's pid before it types or reads anything.
    const pid = await env.services.host!.tmuxPanePid(tui.tmux);
    const remote = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout, host: "remote-b", pid });
    const elsewhere = await registerSession(env, "worker", { tmux_session: "not-here", host: "remote-c" });
    const enqueue = async (name: string, body: Record<string, unknown>) => {
      const res = await env.call("POST", `/v1/sessions/${name}/commands`, { body });
      expect(res.status).toBe(201);
      return res.body.command_id as string;
    };
    const capture = await enqueue(remote.session.name, { type: "capture" });
    const nudge = await enqueue(remote.session.name, { type: "nudge", text: "report your status" });
    const foreign = await enqueue(elsewhere.session.name, { type: "capture" });

    up = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [] });
    const token = await env.mint("runner", "remote-b");
    const out = await run(
      process.execPath,
      [BIN, "runner", "--url", up.url, "--token", token, "--host", "remote-b", "--runner-id", "e2e", "--iterations", "2", "--interval", "0.1", "--json"],
      {
        cwd: ROOT,
        env: { ...process.env, SWITCHYARD_HOME: env.dir },
        timeout: 90_000,
      },
    );
    const results = out.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(results.map((r) => [r.command_id, r.state])).toEqual([
      [capture, "succeeded"],
      [nudge, "succeeded"],
    ]);

    const list = await env.call("GET", "/v1/commands?attempts=true");
    const byId = Object.fromEntries(list.body.commands.map((c: any) => [c.id, c]));
    expect(byId[capture].result.pane).toContain("›");
    expect(byId[nudge].result).toMatchObject({ submitted: true, verified_by: "transcript" });
    expect(userMessages(tui.rollout)).toEqual(["report your status"]);
    for (const id of [capture, nudge]) {
      expect(byId[id].attempt_history).toEqual([
        expect.objectContaining({
          dispatcher_id: "runner:remote-b:e2e",
          claim_generation: 1,
          side_effect_started: true,
          side_effect_completed: true,
          error: null,
        }),
      ]);
    }
    expect(byId[foreign]).toMatchObject({ state: "pending", attempts: 0, claim_generation: 0 });

    // A runner told it is another machine than its token says stops instead of acting on the wrong tmux.
    const wrong = await run(process.execPath, [BIN, "runner", "--url", up.url, "--token", token, "--host", "remote-c", "--iterations", "1"], {
      cwd: ROOT,
      env: { ...process.env, SWITCHYARD_HOME: env.dir },
    }).catch((e) => e);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("scoped to host 'remote-b', but --host is 'remote-c'");

    // Neither does a token the server refuses (the owner's, a session's, an unknown one): it
    // stops at once, not after logging the refusal every round, and says which token to mint.
    const session = await registerSession(env, "worker");
    for (const [bad, why] of [
      [session.token, "403: a session token may not call POST /v1/runner/claim"],
      [env.services.ownerToken, "403: an owner token may not call POST /v1/runner/claim"],
      ["sy_runner_bogus", "401: "],
    ] as const) {
      const refused = await run(process.execPath, [BIN, "runner", "--url", up.url, "--token", bad, "--host", "remote-b"], {
        cwd: ROOT,
        env: { ...process.env, SWITCHYARD_HOME: env.dir },
        timeout: 20_000,
      }).catch((e) => e);
      expect(refused.code, refused.stderr).toBe(1);
      expect(refused.stderr).toContain(`the server refused the runner's token (${why}`);
      expect(refused.stderr).toContain("switchyard token mint --scope runner --host remote-b");
    }
    // A proxy's own 403 page (not Switchyard's refusal) is retried like any failed round.
    const proxy = createServer((_req, res) => res.writeHead(403, { "content-type": "text/html" }).end("<h1>403 Forbidden</h1>"));
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    try {
      const port = (proxy.address() as { port: number }).port;
      const retried = await run(
        process.execPath,
        [BIN, "runner", "--url", `http://127.0.0.1:${port}`, "--token", token, "--host", "remote-b", "--iterations", "2", "--interval", "0.1"],
        { cwd: ROOT, env: { ...process.env, SWITCHYARD_HOME: env.dir }, timeout: 20_000 },
      );
      expect(retried.stdout).toContain("stopped after 2 round(s)");
      expect(retried.stderr).toContain("runner claim failed");
    } finally {
      proxy.close();
    }
  });

  it("executes a stop queued for its host and the server marks the session gone, as the inline stop does", { timeout: 120_000 }, async () => {
    const tui = await startFakeTui(env);
    panes.push(tui.tmux);
    const remote = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout, host: "remote-b" });
    const stop = await env.call("POST", `/v1/sessions/${remote.session.name}/stop`, { body: {} });
    expect(stop.status).toBe(202);
    expect(stop.body).toMatchObject({ queued: true, marked_gone: false });
    expect(await env.services.host!.tmuxHasSession(tui.tmux)).toBe(true);

    up = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [] });
    const token = await env.mint("runner", "remote-b");
    const out = await run(
      process.execPath,
      [BIN, "runner", "--url", up.url, "--token", token, "--host", "remote-b", "--runner-id", "e2e", "--iterations", "1", "--json"],
      { cwd: ROOT, env: { ...process.env, SWITCHYARD_HOME: env.dir }, timeout: 90_000 },
    );
    expect(JSON.parse(out.stdout.trim())).toMatchObject({ command_id: stop.body.command_id, state: "succeeded" });
    expect(await env.services.host!.tmuxHasSession(tui.tmux)).toBe(false);
    const show = await env.call("GET", `/v1/sessions/${remote.session.name}`);
    expect(show.body.session.state).toBe("gone");
    const audit = await env.services.database.client.execute({
      sql: "SELECT actor, payload_json FROM events WHERE session_id = ? AND kind = 'session_stopped'",
      args: [remote.session_id],
    });
    expect(audit.rows.map((r) => [r.actor, JSON.parse(String(r.payload_json))])).toEqual([
      ["runner:remote-b", { command_id: stop.body.command_id, name: remote.session.name, dry_run: false, tmux_killed: true }],
    ]);
  });

  it("refuses to start without --url or --token (usage error, exit 2)", async () => {
    const err = await run(process.execPath, [BIN, "runner", "--host", "remote-b"], {
      cwd: ROOT,
      env: { ...process.env, SWITCHYARD_HOME: env.dir, SWITCHYARD_URL: "", SWITCHYARD_TOKEN: "" },
    }).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toContain("runner needs --url");
  });
});
