import { mkdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HostError } from "../../../functions/lib/host.ts";
import { NodeHost } from "../../../local-runner/host.ts";
import { tmuxArg } from "../../../local-runner/host/tmux.ts";
import { HOLDER, Resources, waitFor } from "./helpers.ts";

const host = new NodeHost();
const res = new Resources();
afterEach(() => res.cleanup());

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HostError) return e.code;
    throw e;
  }
  throw new Error("expected a HostError");
}

describe("NodeHost tmux", () => {
  it("creates a session, types into it, captures the echo and kills it", async () => {
    const name = res.session("echo");
    const dir = res.tmpDir();
    await host.tmuxNewSession({ name, cwd: dir, command: ["cat"], width: 120, height: 30 });
    expect(await host.tmuxHasSession(name)).toBe(true);

    // The single-word command runs as the pane process itself, not under a shell.
    const pid = await host.tmuxPanePid(name);
    expect(pid).toBeGreaterThan(0);
    // The `sh -c 'exec "$0"'` wrapper replaces itself with cat under the same pid.
    await waitFor(() => readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "cat", "sh to exec cat");

    await host.tmuxSendKeys(name, "hello; #{pane_id} $HOME \\;", { literal: true });
    await host.tmuxSendKeys(name, "Enter");
    // The terminal echoes the typed line and cat prints it back: two identical lines.
    const text = await waitFor(async () => {
      const t = await host.tmuxCapturePane(name);
      return t.split("\n").filter((l) => l === "hello; #{pane_id} $HOME \\;").length === 2 && t;
    }, "echoed line");
    expect(text).toContain("hello; #{pane_id} $HOME \\;");

    await host.tmuxKillSession(name);
    expect(await host.tmuxHasSession(name)).toBe(false);
  });

  it("passes argv, env and cwd verbatim, with no shell in between", async () => {
    const name = res.session("argv");
    const dir = join(res.tmpDir(), "odd #{dir} 'q'");
    mkdirSync(dir);
    const out = join(dir, "out.json");
    const script = "require('fs').writeFileSync(process.argv[1], JSON.stringify({ argv: process.argv.slice(2), cwd: process.cwd(), env: process.env.SWY_X }))";
    const tricky = ["a b", "semi;", "back\\;", "$HOME", "`id`", "'q'", '"dq"', "-t", ";"];
    await host.tmuxNewSession({ name, cwd: dir, command: [process.execPath, "-e", script, out, ...tricky], env: { SWY_X: "v;al $x" } });
    // Retried until complete: the file may be caught empty, between creation and write.
    const got = await waitFor(async () => {
      try {
        return JSON.parse(await readFile(out, "utf8")) as unknown;
      } catch {
        return null;
      }
    }, "argv dump");
    expect(got).toEqual({ argv: tricky, cwd: dir, env: "v;al $x" });
  });

  it("matches session names exactly: w1 never reaches w10", async () => {
    const w1 = res.session("w1");
    const w10 = res.session("w10");
    await host.tmuxNewSession({ name: w10, cwd: res.tmpDir(), command: ["cat"] });
    expect(await host.tmuxHasSession(w1)).toBe(false);
    expect(await host.tmuxPanePid(w1)).toBeNull();
    expect(await codeOf(host.tmuxSendKeys(w1, "x", { literal: true }))).toBe("TMUX_SESSION_NOT_FOUND");
    expect(await codeOf(host.tmuxCapturePane(w1))).toBe("TMUX_SESSION_NOT_FOUND");
    await expect(host.tmuxKillSession(w1)).rejects.toThrow(`tmux session '${w1}' not found`);
    expect(await host.tmuxHasSession(w10)).toBe(true);

    await host.tmuxNewSession({ name: w1, cwd: res.tmpDir(), command: ["cat"] });
    expect(await host.tmuxPanePid(w1)).not.toBe(await host.tmuxPanePid(w10));
    await host.tmuxKillSession(w1);
    expect(await host.tmuxHasSession(w10)).toBe(true);
  });

  it("refuses a duplicate session, a missing cwd and a name tmux would rewrite", async () => {
    const name = res.session("dup");
    await host.tmuxNewSession({ name, cwd: res.tmpDir(), command: ["cat"] });
    expect(await codeOf(host.tmuxNewSession({ name, cwd: res.tmpDir(), command: ["cat"] }))).toBe("TMUX_SESSION_EXISTS");
    expect(await codeOf(host.tmuxNewSession({ name: res.session("nocwd"), cwd: "/nonexistent/swy", command: ["cat"] }))).toBe("FILE_NOT_FOUND");
    for (const bad of ["a.b", "a:b", "a#{x}", ""]) {
      expect(await codeOf(host.tmuxHasSession(bad))).toBe("COMMAND_FAILED");
    }
  });

  it("targets the first pane by session name, and explicit panes by id or session:window.pane", async () => {
    const name = res.session("panes");
    await host.tmuxNewSession({ name, cwd: res.tmpDir(), command: ["cat"] });
    const first = await host.tmuxPanePid(name);
    // A pane id is stable while the pane lives; the first pane is index 0 of window 0 here.
    expect(await host.tmuxPanePid(`${name}:0.0`)).toBe(first);
    expect(await host.tmuxPanePid(`${name}:7.0`)).toBeNull();
    expect(await host.tmuxPanePid("%999999")).toBeNull();
  });

  it("captures scrollback history on request", async () => {
    const name = res.session("scroll");
    await host.tmuxNewSession({ name, cwd: res.tmpDir(), command: ["sh", "-c", "seq 1 300; exec cat"], width: 80, height: 20 });
    await waitFor(async () => (await host.tmuxCapturePane(name)).includes("300"), "seq output");
    expect((await host.tmuxCapturePane(name)).split("\n")).not.toContain("1");
    expect((await host.tmuxCapturePane(name, { scrollback: 400 })).split("\n")).toContain("1");
  });

  it("sends key names: C-c ends the pane's process", async () => {
    const name = res.session("ctrlc");
    await host.tmuxNewSession({ name, cwd: res.tmpDir(), command: ["cat"] });
    // A C-c typed before the pane process owns its terminal is discarded; wait for cat itself.
    await waitFor(async () => readFileSync(`/proc/${await host.tmuxPanePid(name)}/comm`, "utf8").trim() === "cat", "cat to start");
    await host.tmuxSendKeys(name, "C-c");
    await waitFor(async () => !(await host.tmuxHasSession(name)), "session to end after C-c");
  });

  it("never turns text into keys: literal text with control bytes is refused, and only known key names are sent", async () => {
    const name = res.session("keys");
    const dir = res.tmpDir();
    await host.tmuxNewSession({ name, cwd: dir, command: ["cat"], width: 120, height: 30 });
    const pid = await host.tmuxPanePid(name);
    expect(await codeOf(host.tmuxSendKeys(name, "stop\x03", { literal: true }))).toBe("COMMAND_FAILED");
    expect(await codeOf(host.tmuxSendKeys(name, "\x1b[A", { literal: true }))).toBe("COMMAND_FAILED");
    expect(await codeOf(host.tmuxSendKeys(name, "C-c Enter"))).toBe("COMMAND_FAILED");
    expect(await codeOf(host.tmuxSendKeys(name, "hello"))).toBe("COMMAND_FAILED");
    // cat would have died of a Ctrl-C.
    expect(await host.pidAlive(pid!)).toBe(true);
    expect((await host.tmuxCapturePane(name)).trim()).toBe("");
  });

  it("verifies a pane belongs to an agent: its pid or an ancestor, the agent still the same process, holding its transcript", async () => {
    const dir = res.tmpDir();
    const rollout = join(dir, "sessions", "rollout-pane.jsonl");
    mkdirSync(join(dir, "sessions"), { recursive: true });
    const agentPane = res.session("agent");
    await host.tmuxNewSession({ name: agentPane, cwd: dir, command: [process.execPath, HOLDER, "child", rollout], width: 80, height: 20 });
    const agent = await res.holderPid(rollout);
    const panePid = (await host.tmuxPanePid(agentPane))!;
    const started = await host.pidStartTime(agent);
    expect(await host.verifyPane(agentPane, { pid: agent, startedAt: started, transcriptPath: rollout })).toEqual({ ok: true, panePid });
    expect(await host.verifyPane(agentPane, { pid: panePid })).toEqual({ ok: true, panePid });

    const other = res.session("operator");
    await host.tmuxNewSession({ name: other, cwd: dir, command: ["sleep", "600"], width: 80, height: 20 });
    const notAncestor = await host.verifyPane(other, { pid: agent, startedAt: started });
    expect(notAncestor).toMatchObject({ ok: false, reason: expect.stringMatching(/neither the agent .* nor its ancestor/) });
    // The pane's own process does not hold the agent's transcript.
    expect(await host.verifyPane(other, { pid: (await host.tmuxPanePid(other))!, transcriptPath: rollout })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/does not hold/),
    });
    expect(await host.verifyPane(agentPane, { pid: agent, startedAt: started! - 60_000 })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/no longer running/),
    });
    for (const target of [`${agentPane}:0.0`, "%0", `=${agentPane}:`]) {
      expect(await host.verifyPane(target, { pid: agent })).toMatchObject({ ok: false, reason: expect.stringMatching(/plain tmux session name/) });
    }
  });

  it("escapes a trailing ';' so tmux does not read it as a command separator", () => {
    expect(tmuxArg("ls;")).toBe("ls\\;");
    expect(tmuxArg("a\\;")).toBe("a\\\\;");
    expect(tmuxArg("plain")).toBe("plain");
  });
});
