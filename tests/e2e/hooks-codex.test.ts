// The real Codex CLI in real tmux against the loopback model stub, with Switchyard's hooks
// installed (and trusted) by `switchyard hooks install`: its events land for the registered
// session the same way Claude's do, a permission wait reaches the manager, and the Stop routes
// the completion. No cron or poll runs here.
import { describe, expect, it } from "vitest";
import { submitPrompt, tmux, waitFor, waitForPane } from "../helpers/agents.ts";
import { useHookedWorker } from "../helpers/hooks.ts";

const startWorker = useHookedWorker();

describe("Codex with Switchyard's hooks", () => {
  it("posts its hook events for the registered session: prompt, permission wait, completion", async () => {
    const { env, spawn, target, bindManager } = await startWorker(
      "codex",
      ["Hello from the stub: PONG-1", { shell: "echo TOOL-OUTPUT-42 > proof.txt && cat proof.txt", escalate: true }, "Ran it: TOOL-DONE"],
      { sandbox: "workspace-write" },
    );
    await waitForPane(target, /PONG-1/, 60_000);

    const { inbox } = await bindManager();

    await submitPrompt(target, "Run the proof command");
    const wait = await waitFor(async () => (await inbox()).find((i) => i.payload.kind === "permission_wait"), 60_000, "permission item");
    expect(wait.payload.message).toContain("echo TOOL-OUTPUT-42");
    await waitForPane(target, /Would you like to run the following command|Press enter to confirm/, 30_000);
    await tmux(["send-keys", "-t", target, "Enter"]);
    await waitForPane(target, /TOOL-DONE/, 60_000);
    const done = await waitFor(
      // The first turn's completion can reach the manager too when its Stop hook lands after the
      // binding (a loaded machine); the one asked for here is the tool turn's.
      async () =>
        (await inbox()).find(
          (i) => i.signal_type === "worker_task_complete" && i.payload.source === "hook" && String(i.payload.last_agent_message).includes("TOOL-DONE"),
        ),
      10_000,
      "completion item",
    );
    expect(done.payload.last_agent_message).toContain("TOOL-DONE");
    expect(done.payload.turn_id).toBeTruthy();

    const events = (await env.call("GET", "/v1/sessions/codex-w/hook-events?limit=100")).body.events;
    // SessionStart reaches us too when Codex sends it after the registration (a loaded machine
    // starts the TUI slower than the test registers it); it is the session's own event either way.
    const seen = new Set(events.map((e: any) => e.event));
    seen.delete("SessionStart");
    expect(seen).toEqual(new Set(["UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop"]));
    // Codex's session id is the thread id that ends the rollout's file name.
    const thread = events[0].agent_session_id as string;
    expect(spawn.session.transcript_path).toMatch(new RegExp(`${thread}\\.jsonl$`));
    expect(events.every((e: any) => e.agent === "codex" && e.agent_session_id === thread)).toBe(true);
    const state = (await env.call("GET", "/v1/sessions/codex-w/hook-state")).body.hook_state;
    expect(state).toMatchObject({ state: "idle", event: "Stop", agent: "codex" });
  }, 300_000);
});
