import { and, eq } from "drizzle-orm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DISPATCH_PLUGINS } from "../../../functions/executors.ts";
import { makeCtx } from "../../../functions/lib/ctx.ts";
import { dispatchPass } from "../../../functions/queue/dispatch-pass.ts";
import { INLINE_HOLD_MS } from "../../../functions/queue/inline.ts";
import { createCommand } from "../../../functions/queue/store.ts";
import { events } from "../../../schema/events.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { commandRow } from "../queue/helpers.ts";
import { killTmux, startFakeTui } from "./fake-tui.ts";

/*
 * A stop that is not executed inline — queued for another host's runner, or taken over by a
 * dispatcher after the request that created it died — must end like the inline stop: the pane
 * killed, the session gone, one session_stopped audit row.
 */

let env: TestEnv;
const panes: string[] = [];
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(async () => {
  for (const p of panes.splice(0)) await killTmux(env, p);
  env.close();
});

const sessionState = async (name: string) => (await env.call("GET", `/v1/sessions/${name}`)).body.session.state as string;
const stoppedEvents = (sessionId: string) =>
  env.services.database.db
    .select()
    .from(events)
    .where(and(eq(events.sessionId, sessionId), eq(events.kind, "session_stopped")));

/** Claims, starts and completes every command the runner token's host has due, as a runner does over HTTP. */
async function runnerReports(token: string, outcome: (commandId: string) => Record<string, unknown>) {
  const claim = await env.call("POST", "/v1/runner/claim", { token, body: { runner_id: "t1", limit: 10, lease_seconds: 60 } });
  expect(claim.status).toBe(200);
  for (const c of claim.body.claims) {
    expect((await env.call("POST", `/v1/runner/attempts/${c.attempt_id}/started`, { token })).status).toBe(200);
    const done = await env.call("POST", `/v1/runner/commands/${c.command.id}/complete`, {
      token,
      body: { attempt_id: c.attempt_id, generation: c.generation, ...outcome(c.command.id) },
    });
    expect(done.status).toBe(200);
  }
  return claim.body.claims.map((c: any) => c.command.id as string);
}

describe("stop of a session on another host", () => {
  it("is queued for that host's runner (202) and leaves the session active until the runner reports", async () => {
    const w = await registerSession(env, "worker", { tmux_session: "pane-on-b", host: "remote-b" });
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/stop`, { body: {} });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ queued: true, dry_run: false, tmux_killed: false, marked_gone: false });
    // Released from the inline hold at once: the runner may claim it now.
    expect(res.body.command).toMatchObject({ type: "stop", state: "pending", host: "remote-b", next_attempt_at: null, payload: { tmux_session: "pane-on-b" } });
    expect(await sessionState(w.session.name)).toBe("active");
    const [queued] = await env.services.database.db.select().from(events).where(eq(events.id, res.body.event_id));
    expect(queued).toMatchObject({ kind: "session_stop_queued", payload: { command_id: res.body.command_id, queued_for_host: "remote-b" } });
  });

  it("is marked gone, with the session_stopped audit row, when the runner reports success; a failed stop leaves it active", async () => {
    const ok = await registerSession(env, "worker", { tmux_session: "pane-ok", host: "remote-b" });
    const bad = await registerSession(env, "worker", { tmux_session: "pane-bad", host: "remote-b" });
    const okCmd = (await env.call("POST", `/v1/sessions/${ok.session.name}/stop`, { body: {} })).body.command_id;
    const badCmd = (await env.call("POST", `/v1/sessions/${bad.session.name}/stop`, { body: {} })).body.command_id;
    const token = await env.mint("runner", "remote-b");
    const done = await runnerReports(token, (id) =>
      id === okCmd ? { ok: true, result: { tmux_killed: true } } : { ok: false, error: "tmux server unreachable", side_effect_completed: false },
    );
    expect(done.sort()).toEqual([okCmd, badCmd].sort());

    expect(await sessionState(ok.session.name)).toBe("gone");
    expect(await stoppedEvents(ok.session_id)).toEqual([
      expect.objectContaining({ actor: "runner:remote-b", payload: { command_id: okCmd, name: ok.session.name, dry_run: false, tmux_killed: true } }),
    ]);
    // The stopped session's own token no longer works.
    expect((await env.call("GET", "/v1/tasks", { token: ok.token })).status).toBe(401);

    expect(await sessionState(bad.session.name)).toBe("active");
    expect(await stoppedEvents(bad.session_id)).toEqual([]);
    expect((await commandRow(env, badCmd)).state).toBe("dead");
  });
});

describe("stop taken over by the queue", () => {
  it("a dispatcher on the session's host runs a stop whose request died and marks the session gone", async () => {
    const tui = await startFakeTui(env);
    panes.push(tui.tmux);
    const w = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout });
    // What the stop request wrote before it died: the command, held for the inline claim that never came.
    const owner = makeCtx(env.services, { kind: "owner", tokenId: "tok_test" });
    const cmd = await createCommand(owner, {
      type: "stop",
      sessionId: w.session_id,
      host: "test-host",
      payload: { tmux_session: tui.tmux },
      holdMs: INLINE_HOLD_MS,
    });
    const daemon = makeCtx(env.services, { kind: "daemon", tokenId: "tok_dispatcher" });
    expect((await dispatchPass(daemon, DISPATCH_PLUGINS, { dispatcherId: "d1", route: false })).claimed).toBe(0);
    env.clock.advance(INLINE_HOLD_MS / 1000 + 1);
    const report = await dispatchPass(daemon, DISPATCH_PLUGINS, { dispatcherId: "d1", route: false });
    expect(report).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(await env.services.host!.tmuxHasSession(tui.tmux)).toBe(false);
    expect(await sessionState(w.session.name)).toBe("gone");
    expect(await stoppedEvents(w.session_id)).toEqual([
      expect.objectContaining({ actor: "daemon:tok_dispatcher", payload: { command_id: cmd.id, name: w.session.name, dry_run: false, tmux_killed: true } }),
    ]);
  });

  it("the inline stop answers queued: false and records the same audit row", async () => {
    const tui = await startFakeTui(env);
    panes.push(tui.tmux);
    const w = await registerSession(env, "worker", { tmux_session: tui.tmux, codex_session: tui.rollout });
    const res = await env.call("POST", `/v1/sessions/${w.session.name}/stop`, { body: {} });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ queued: false, tmux_killed: true, marked_gone: true });
    expect(await stoppedEvents(w.session_id)).toEqual([
      expect.objectContaining({ id: res.body.event_id, payload: { command_id: res.body.command_id, name: w.session.name, dry_run: false, tmux_killed: true } }),
    ]);
  });
});
