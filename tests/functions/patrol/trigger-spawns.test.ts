import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { paneShowsReadyPrompt } from "../../../functions/patrol/trigger-spawns.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { killTmux, startFakeTui } from "../actuate/fake-tui.ts";
import { daemonCtx, runSteps } from "./helpers.ts";

const PANES = fileURLToPath(new URL("../../fixtures/panes/", import.meta.url));
const pane = (name: string) => readFileSync(join(PANES, `${name}.txt`), "utf8");

let env: TestEnv;
const started: string[] = [];
afterEach(async () => {
  for (const t of started.splice(0)) await killTmux(env, t);
  env?.close();
});

describe("ready prompt detection", () => {
  it("sees the composer of idle Codex and Claude Code panes, not busy panes or menus", () => {
    for (const ready of ["codex-idle", "claude-idle", "codex-turn_complete", "claude-turn_complete"])
      expect(paneShowsReadyPrompt(pane(ready)), ready).toBe(true);
    for (const not of ["codex-busy", "claude-busy", "claude-trust_prompt", "codex-trust_prompt", "claude-approval_prompt", "codex-approval_prompt"]) {
      expect(paneShowsReadyPrompt(pane(not)), not).toBe(false);
    }
    expect(paneShowsReadyPrompt("")).toBe(false);
  });
});

describe("trigger-pending-spawns", () => {
  it("nudges a ready spawned agent exactly once and clears it from pending", async () => {
    env = await makeTestEnv();
    const tui = await startFakeTui(env);
    started.push(tui.tmux);
    const w = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout });
    const add = await env.call("POST", "/v1/patrol/pending-spawns", { body: { session: w.session.name } });
    expect(add.status).toBe(201);
    expect(add.body.spawn).toMatchObject({ state: "pending", generation: 1, begin_text: "Begin." });
    expect((await env.call("GET", "/v1/patrol/pending-spawns")).body.count).toBe(1);
    // Give the TUI a moment to draw its composer.
    await new Promise((r) => setTimeout(r, 300));
    const first = await runSteps(env, "trigger-pending-spawns");
    expect(first["trigger-pending-spawns"].triggered).toHaveLength(1);
    const second = await runSteps(env, "trigger-pending-spawns");
    expect(second["trigger-pending-spawns"]).toMatchObject({ pending: 0, triggered: [] });
    expect((await env.call("GET", "/v1/patrol/pending-spawns")).body.count).toBe(0);
    const cmds = await env.call("GET", "/v1/commands?limit=50");
    const nudges = cmds.body.commands.filter((c: any) => c.type === "nudge");
    expect(nudges).toHaveLength(1);
    expect(nudges[0].payload.text).toBe("Begin.");
    // The nudge names the agent the pane must still run (the executor checks before typing).
    const registered = (await env.call("GET", `/v1/sessions/${w.session.name}`)).body.session;
    expect(nudges[0].payload).toMatchObject({ pid: registered.pid, pid_started_at: expect.any(Number), tmux_session: tui.tmux });
    expect(registered.pid).toEqual(expect.any(Number));
    // A dispatcher types it into the pane; the agent's transcript shows the prompt arrived.
    await dispatchPass(daemonCtx(env), DISPATCH_PLUGINS, { dispatcherId: "test" });
    const lines = readFileSync(tui.rollout, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.payload?.type === "user_message").map((l) => l.payload.message)).toEqual(["Begin."]);
    const again = await env.call("POST", "/v1/patrol/pending-spawns", { body: { session: w.session.name } });
    expect(again.status).toBe(409);
  });

  it("leaves a spawn pending while its pane is not ready, and refuses a session without a pane", async () => {
    env = await makeTestEnv();
    const tui = await startFakeTui(env, 60_000);
    started.push(tui.tmux);
    const w = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout });
    // Make the agent busy: it now shows "esc to interrupt" and no free composer.
    await env.services.host!.tmuxSendKeys(tui.tmux, "long job", { literal: true });
    await new Promise((r) => setTimeout(r, 250));
    await env.services.host!.tmuxSendKeys(tui.tmux, "Enter");
    await new Promise((r) => setTimeout(r, 300));
    await env.call("POST", "/v1/patrol/pending-spawns", { body: { session: w.session.name, text: "Start on the ticket." } });
    const r = await runSteps(env, "trigger-pending-spawns");
    expect(r["trigger-pending-spawns"]).toMatchObject({ pending: 1, triggered: [], not_ready: [w.session.name] });
    const bare = await registerSession(env, "worker");
    expect((await env.call("POST", "/v1/patrol/pending-spawns", { body: { session: bare.session.name } })).status).toBe(409);
  });

  it("refuses begin text with control bytes, and reads or nudges no pane that stopped being the agent's", async () => {
    env = await makeTestEnv();
    const tui = await startFakeTui(env);
    started.push(tui.tmux);
    const w = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout });
    const keys = await env.call("POST", "/v1/patrol/pending-spawns", { body: { session: w.session.name, text: "Begin.\x1b[A\x03" } });
    expect(keys.status).toBe(400);
    expect(keys.body.error.fields[0]).toMatchObject({ field: "text", message: expect.stringMatching(/control characters/) });
    expect((await env.call("POST", "/v1/patrol/pending-spawns", { body: { session: w.session.name } })).status).toBe(201);
    // The agent exits and a shell takes the pane's name: the patrol must not type "Begin." into it.
    await killTmux(env, tui.tmux);
    await env.services.host!.tmuxNewSession({ name: tui.tmux, cwd: env.dir, command: ["sleep", "600"] });
    await new Promise((r) => setTimeout(r, 300));
    const r = await runSteps(env, "trigger-pending-spawns");
    expect(r["trigger-pending-spawns"]).toMatchObject({
      pending: 1,
      triggered: [],
      errors: [{ session: w.session.name, error: expect.stringMatching(/refusing to use tmux session/) }],
    });
    expect((await env.call("GET", "/v1/commands?limit=50")).body.commands.filter((c: any) => c.type === "nudge")).toEqual([]);
  });
});
