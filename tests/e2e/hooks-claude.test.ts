// The real Claude Code CLI in real tmux against the loopback model stub, with Switchyard's hooks
// installed by `switchyard hooks install` and a real HTTP server: events land for the registered
// session; a permission prompt reaches the manager's inbox within 2 s; a Stop routes the
// completion within 1 s; /clear keeps the session's identity with the new transcript recorded.
// No cron or poll runs in this test: whatever reaches the manager got there through the hooks.
import { describe, expect, it } from "vitest";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { routeCompletions } from "../../functions/messages/routing.ts";
import { capturePane, claudeTranscripts, submitPrompt, tmux, waitFor, waitForPane } from "../helpers/agents.ts";
import { useHookedWorker } from "../helpers/hooks.ts";

const startWorker = useHookedWorker();

const TOOL = "echo TOOL-OUTPUT-42 > proof.txt && cat proof.txt";

describe("Claude Code with Switchyard's hooks", () => {
  it("reports permission waits, completions and /clear through its hooks", async () => {
    const { env, stub, home, spawn, target, bindManager } = await startWorker(
      "claude",
      ["Hello from the stub: PONG-1", { shell: TOOL }, "Ran it: TOOL-DONE", "After clear: PONG-3"],
      { permissionMode: "default" },
    );
    const firstTranscript = spawn.session.transcript_path as string;
    await waitForPane(target, /PONG-1/, 60_000);

    // Claude writes an answer to its transcript a moment after showing it. Bind once the first
    // one is there, so it falls under the binding's watermark: it is not the new manager's.
    await waitFor(
      async () => {
        await env.call("POST", "/v1/sessions/claude-w/ingest");
        return (await env.call("GET", "/v1/sessions/claude-w/events?kind=task_complete")).body.events.length >= 1;
      },
      20_000,
      "the first answer in the transcript",
    );
    const { task, inbox } = await bindManager();
    const hookState = async () => (await env.call("GET", "/v1/sessions/claude-w/hook-state")).body.hook_state;

    // A turn that asks for a permission: the manager hears of it at once.
    const served = stub.requests.length;
    await submitPrompt(target, "Run the proof command");
    await waitForPane(target, /Do you want to/, 60_000);
    const toolAsked = Date.parse(stub.requests.slice(served).find((r) => r.kind === "main")!.at);
    const wait = await waitFor(async () => (await inbox()).find((i) => i.payload.kind === "permission_wait"), 10_000, "permission item");
    expect(Date.parse(wait.created_at) - toolAsked, "model asked for the tool -> manager's inbox").toBeLessThan(2_000);
    expect(wait.payload.message).toContain("Bash");
    expect(wait.source_session).toBe("claude-w");
    expect((await hookState()).state).toBe("waiting_for_permission");

    // Approve; the Stop of that turn routes the completion straight away. Claude can drop a key
    // pressed the moment its dialog appears, so Enter is pressed again while the dialog stays.
    await waitFor(
      async () => {
        if (!/Do you want to proceed/.test(await capturePane(target))) return true;
        await tmux(["send-keys", "-t", target, "Enter"]);
        await new Promise((r) => setTimeout(r, 1_500));
        return undefined;
      },
      30_000,
      "the permission dialog to take Enter",
    );
    await waitForPane(target, /TOOL-DONE/, 60_000);
    const paneDone = Date.now();
    const done = await waitFor(
      async () => (await inbox()).find((i) => i.signal_type === "worker_task_complete" && i.payload.source === "hook"),
      10_000,
      "completion item",
    );
    expect(Date.parse(done.created_at) - paneDone, "Stop -> manager's inbox (vs. the pane showing the answer)").toBeLessThan(1_000);
    expect(done.payload.last_agent_message).toContain("TOOL-DONE");
    expect((await hookState()).state).toBe("idle");
    const events = (await env.call("GET", "/v1/sessions/claude-w/hook-events?limit=100")).body.events.map((e: any) => e.event);
    for (const e of ["UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop"]) expect(events).toContain(e);

    // The transcript's own completion of that turn carries the same prompt id: routing it is a no-op.
    await waitFor(
      async () => {
        const r = await env.call("POST", "/v1/sessions/claude-w/ingest");
        return r.status === 200 && (await env.call("GET", "/v1/sessions/claude-w/events?kind=task_complete")).body.events.length >= 2;
      },
      20_000,
      "transcript completion of the tool turn",
    );
    await routeCompletions(makeCtx(env.services, { kind: "daemon", tokenId: "tok_e2e" }));
    const completions = (await inbox()).filter((i) => i.signal_type === "worker_task_complete");
    expect(completions, JSON.stringify(completions.map((i) => [i.payload.source, i.payload.turn_id, i.payload.last_agent_message]))).toHaveLength(1);

    // /clear: Claude ends the session and starts a new one with new ids; Switchyard keeps it.
    const before = await hookState();
    await submitPrompt(target, "/clear");
    const cleared = await waitFor(
      async () => {
        const h = await hookState();
        return h.agent_session_id !== before.agent_session_id ? h : undefined;
      },
      30_000,
      "SessionStart after /clear",
    );
    expect(cleared.pending_transcript_path).toMatch(new RegExp(`${cleared.agent_session_id}\\.jsonl$`));
    await submitPrompt(target, "After clear say PONG");
    await waitForPane(target, /PONG-3/, 60_000);
    const after = await waitFor(
      async () => {
        const s = (await env.call("GET", "/v1/sessions/claude-w")).body.session;
        return s.transcript_path !== firstTranscript ? s : undefined;
      },
      20_000,
      "transcript switch",
    );
    expect(after.transcript_path).toBe(cleared.pending_transcript_path);
    expect(claudeTranscripts(home.configDir)).toContain(after.transcript_path);
    expect(after.state).toBe("active");
    const bindings = (await env.call("GET", "/v1/bindings")).body.bindings;
    expect(bindings.find((b: any) => b.task === task.task.name)).toMatchObject({ worker: "claude-w", state: "active" });
    await waitFor(async () => (await inbox()).filter((i) => i.signal_type === "worker_task_complete").length >= 2, 10_000, "completion after /clear");
    const audit = await env.services.database.client.execute(
      "SELECT kind FROM events WHERE kind IN ('session_identity_continued', 'session_transcript_switched')",
    );
    expect(audit.rows.map((r) => r.kind).sort()).toEqual(["session_identity_continued", "session_transcript_switched"]);

    // And cycle reads the new transcript, with the hooks as its first signal.
    // (Claude writes the answer to its transcript about a second after its Stop hook.)
    const c = await waitFor(
      async () => {
        const r = (await env.call("POST", `/v1/tasks/${task.task.name}/cycle`, { body: {} })).body;
        return String(r.manager_context?.last_worker_message ?? "").includes("PONG-3") ? r : undefined;
      },
      10_000,
      "cycle to read the answer from the new transcript",
    );
    expect(c.hook_state.state).toBe("idle");
    expect(c.state_source).toBe("hook");
    expect(c.manager_context.last_worker_message).toContain("PONG-3");
    expect(await capturePane(target)).toMatch(/PONG-3/);
  }, 300_000);
});
