// Native actuation with the real Codex CLI in daemon mode (its default): the TUI runs in tmux and
// its app-server daemon serves the thread, so Switchyard's nudge and interrupt go through the
// app-server protocol (turn/steer, turn/start, turn/interrupt over the daemon's control socket)
// instead of typing into the pane, with the same command row, attempt and audit.
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { PANE_EXECUTORS, paneOwnerOf } from "../../functions/actuate/pane-executors.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { INLINE_HOLD_MS, runInline } from "../../functions/queue/inline.ts";
import { createCommand } from "../../functions/queue/store.ts";
import { sessions } from "../../schema/sessions.ts";
import { launchAgent, readJsonl, submitPrompt, waitFor, waitForPane, type RunningAgent } from "../helpers/agents.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv | null = null;
let agent: RunningAgent | null = null;
afterEach(async () => {
  await agent?.stop();
  env?.close();
  env = agent = null;
});

const userTexts = (file: string) =>
  readJsonl(file)
    .filter((l) => l.type === "event_msg" && l.payload?.type === "item_completed" && l.payload.item?.type === "UserMessage")
    .map((l) => JSON.stringify(l.payload.item.content));

describe("Codex served by its app-server daemon", () => {
  it("is steered, started and interrupted through the protocol, recorded like a pane nudge", async () => {
    agent = await launchAgent(
      "codex",
      ["Hello PONG-1", { text: "slow ONE", delayMs: 8000 }, "steered TWO", "idle THREE", { text: "slow FOUR", delayMs: 20000 }, "literal SIX"],
      {
        daemon: true,
        name: `hooks-native-${process.pid}`,
      },
    );
    env = await makeTestEnv();
    // The agent Switchyard would launch: its CODEX_HOME's sessions/ is a transcript root.
    env.services.agents = { codex: { command: agent.cmd.argv, env: agent.cmd.env } };
    await submitPrompt(agent.tmux.target, "Say PONG please");
    await waitForPane(agent.tmux.target, /PONG-1/, 60_000);
    const rollout = await waitFor(() => agent!.transcript(), 20_000, "rollout");
    const reg = await env.call("POST", "/v1/sessions", { body: { name: "cx", role: "worker", codex_session: rollout, tmux_session: agent.tmux.name } });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);

    // Busy: the nudge joins the running turn (turn/steer).
    await submitPrompt(agent.tmux.target, "Start the slow one");
    await waitFor(
      () =>
        readJsonl(rollout).some((l) => l.payload?.type === "task_started" && readJsonl(rollout).filter((x) => x.payload?.type === "task_started").length >= 2),
      20_000,
      "second turn",
    );
    const steer = await env.call("POST", "/v1/sessions/cx/nudge", { body: { text: "Also mention STEERED-BY-SWITCHYARD" } });
    expect(steer.status, JSON.stringify(steer.body)).toBe(200);
    expect(steer.body).toMatchObject({ submitted: true, path: "app_server", verified_by: "transcript", enter_attempts: 0 });
    expect(steer.body.command.result).toMatchObject({ via: "turn/steer", path: "app_server" });
    expect(userTexts(rollout).some((t) => t.includes("STEERED-BY-SWITCHYARD"))).toBe(true);
    await waitFor(() => readJsonl(rollout).filter((l) => l.payload?.type === "task_complete").length >= 2, 30_000, "steered turn to finish");

    // Idle: the nudge starts a turn (turn/start).
    const start = await env.call("POST", "/v1/sessions/cx/nudge", { body: { text: "A new turn IDLE-NUDGE" } });
    expect(start.body).toMatchObject({ submitted: true, path: "app_server" });
    expect(start.body.command.result.via).toBe("turn/start");
    await waitFor(() => readJsonl(rollout).filter((l) => l.payload?.type === "task_complete").length >= 3, 30_000, "started turn to finish");

    // Busy again: interrupt ends the running turn (turn/interrupt), no key is pressed.
    await submitPrompt(agent.tmux.target, "Another slow one");
    await waitFor(() => readJsonl(rollout).filter((l) => l.payload?.type === "task_started").length >= 4, 20_000, "fourth turn");
    const intr = await env.call("POST", "/v1/sessions/cx/interrupt", { body: {} });
    expect(intr.status, JSON.stringify(intr.body)).toBe(200);
    expect(intr.body).toMatchObject({ sent: true, path: "app_server" });
    expect(intr.body.command.result.interrupted_turn_id).toBeTruthy();
    await waitFor(() => readJsonl(rollout).some((l) => l.payload?.type === "turn_aborted"), 20_000, "turn_aborted in the rollout");

    // Same records as a pane nudge: a command row with an attempt, and the audit row.
    const cmds = (await env.call("GET", "/v1/commands?type=nudge&attempts=true")).body.commands;
    expect(cmds.filter((c: any) => c.state === "succeeded")).toHaveLength(2);
    expect(cmds.every((c: any) => c.attempt_history.length === 1)).toBe(true);
    const audit = await env.services.database.client.execute("SELECT payload_json FROM events WHERE kind = 'session_nudged' ORDER BY created_at");
    expect(audit.rows.map((r) => JSON.parse(String(r.payload_json)).path)).toEqual(["app_server", "app_server"]);

    // A command made elsewhere (what a runner claims was queued by another process) still
    // reaches the agent as literal text on this path: escape sequences and control bytes go.
    const ctx = makeCtx(env.services, { kind: "owner", tokenId: "tok_e2e" });
    const [row] = await env.services.database.db.select().from(sessions).where(eq(sessions.name, "cx"));
    const payload = {
      ...paneOwnerOf(row!),
      tmux_session: row!.tmuxSession!,
      text: "\x1b[31mRED-LITERAL\x1b[0m\x03 and\rmore",
      transcript_path: row!.transcriptPath,
      transcript_kind: row!.transcriptKind,
    };
    const cmd = await createCommand(ctx, { type: "nudge", sessionId: row!.id, taskId: null, host: row!.host, payload, holdMs: INLINE_HOLD_MS });
    const literal = await runInline(ctx, cmd, PANE_EXECUTORS);
    expect(literal.outcome.result).toMatchObject({ submitted: true, path: "app_server" });
    const typed = userTexts(rollout).filter((t) => t.includes("RED-LITERAL"));
    expect(typed).toEqual([JSON.stringify([{ type: "text", text: "RED-LITERAL and\nmore", text_elements: [] }])]);

    // The app-server path answers to the pane's ownership check too: once the recorded agent is
    // not the process that runs (its start time no longer matches, as when a pid is reused),
    // neither path sends anything, though the daemon still serves the thread.
    await env.services.database.client.execute("UPDATE sessions SET pid_started_at = pid_started_at - 3600000 WHERE name = 'cx'");
    const refused = await env.call("POST", "/v1/sessions/cx/nudge", { body: { text: "This must not arrive NOT-SENT" } });
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(refused.body.error.code).toBe("PANE_NOT_OWNED");
    const refusedInterrupt = await env.call("POST", "/v1/sessions/cx/interrupt", { body: {} });
    expect(refusedInterrupt.body.error?.code).toBe("PANE_NOT_OWNED");
    await new Promise((r) => setTimeout(r, 3_000));
    expect(userTexts(rollout).some((t) => t.includes("NOT-SENT"))).toBe(false);
  }, 300_000);
});
