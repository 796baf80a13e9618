// Exit codes tell the truth: each negative verdict the CLI can receive in a 2xx answer exits
// non-zero, next to the positive case that exits 0. Panes are real tmux sessions: `cat` (which
// echoes a typed line back, so a prompt never leaves the bottom of the pane) for "not
// submitted", the fake agent TUI for "submitted".
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_TIMED_OUT } from "../../../local-runner/cli/main.ts";
import { NodeHost } from "../../../local-runner/host.ts";
import { cliSandbox } from "../../helpers/cli.ts";
import { FAKE_TUI } from "../../functions/actuate/fake-tui.ts";

const sb = cliSandbox("exit", { SWITCHYARD_HOST_NAME: "exit-host" });
const cli = sb.cli;
const host = new NodeHost();
const started: string[] = [];
let seq = 0;

afterEach(async () => {
  for (const name of started.splice(0)) await host.tmuxKillSession(name).catch(() => {});
});

/** A tmux session running `command`, registered as worker `name` (pane verification only). */
async function paneWorker(name: string, command: string[]): Promise<string> {
  const tmux = `cli-exit-${process.pid}-${++seq}`;
  await host.tmuxNewSession({ name: tmux, cwd: sb.home, command, width: 120, height: 30 });
  started.push(tmux);
  expect((await cli("register-worker", "--name", name, "--tmux-session", tmux)).code).toBe(EXIT_OK);
  return tmux;
}

/** The fake agent TUI: clears its composer when a prompt is submitted. */
async function fakeAgent(name: string) {
  const rollout = join(sb.home, `rollout-${name}.jsonl`);
  const tmux = await paneWorker(name, [process.execPath, FAKE_TUI, rollout, "200"]);
  const deadline = Date.now() + 10_000;
  while (!existsSync(rollout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return tmux;
}

/** `cat` with SIGINT ignored behind a composer glyph: typed text shows after `› ` and stays there, Enter or not. */
const STUBBORN = ["sh", "-c", "trap '' INT; printf '› '; exec cat"];

describe("session-nudge", () => {
  it("exits 1 when the text was typed but not submitted", async () => {
    await paneWorker("stuck-w", STUBBORN);
    const res = await cli("session-nudge", "stuck-w", "please run the tests");
    expect(res.code).toBe(EXIT_FAILED);
    expect(res.out).toContain("NOT submitted");
    // What it waited for goes to stderr, never into stdout that a script may parse.
    expect(res.err).toContain("waiting until the agent has taken the prompt");
  });

  it("exits 1 without typing into a pane that shows no agent composer (a shell, `cat`)", async () => {
    const tmux = await paneWorker("bare-w", ["sh", "-c", "trap '' INT; exec cat"]);
    const res = await cli("session-nudge", "bare-w", "please run the tests");
    expect(res.code).toBe(EXIT_FAILED);
    expect(res.out).toContain("NOT typed: no agent composer shows in the pane (has the agent quit?)");
    expect(await host.tmuxCapturePane(tmux)).not.toContain("please run the tests");
  });

  it("exits 0 when the agent took the prompt", async () => {
    await fakeAgent("ok-w");
    const res = await cli("session-nudge", "ok-w", "please run the tests");
    expect(res.code, `${res.out}\n${res.err}`).toBe(EXIT_OK);
    expect(res.out).toMatch(/^nudged ok-w: submitted after \d Enter press/);
  });
});

describe("session-interrupt --followup", () => {
  it("exits 1 when the follow-up was not submitted", async () => {
    await paneWorker("stuck-i", STUBBORN);
    const res = await cli("session-interrupt", "stuck-i", "--followup", "start over");
    expect(res.code).toBe(EXIT_FAILED);
    expect(res.out).toContain("follow-up NOT submitted");
  });

  it("exits 0 when the follow-up was submitted, and without a follow-up", async () => {
    await fakeAgent("ok-i");
    const res = await cli("session-interrupt", "ok-i", "--followup", "start over");
    // Its output says why when it fails (a CI run under load once got exit 1 here).
    expect(res.code, `${res.out}\n${res.err}`).toBe(EXIT_OK);
    expect(res.out).toContain("follow-up submitted");
    expect((await cli("session-interrupt", "ok-i")).code).toBe(EXIT_OK);
  });
});

describe("broker token-check", () => {
  it("exits 1 for an invalid token and 0 for a valid one", async () => {
    await cli("register-worker", "--name", "tw");
    await cli("register-manager", "--name", "tm");
    const thread = JSON.parse((await cli("send", "tw", "hello", "--from", "tm", "--json")).out).thread_id as string;
    const run = JSON.parse((await cli("broker", "run-create", "--mode", "scoped_auto_send", "--objective", "bounded", "--json")).out).run.id as string;
    expect((await cli("broker", "run-start", run)).code).toBe(EXIT_OK);
    const minted = await cli(
      "broker",
      "token-create",
      run,
      "--to-session",
      "tw",
      "--thread-id",
      thread,
      "--max-uses",
      "1",
      "--expires-minutes",
      "10",
      "--json",
    );
    const tokenId = JSON.parse(minted.out).token.id as string;
    const check = (id: string, thread_: string) => cli("broker", "token-check", id, "--run-id", run, "--to-session", "tw", "--thread-id", thread_);

    const valid = await check(tokenId, thread);
    expect(valid.out).toMatch(/^valid/);
    expect(valid.code).toBe(EXIT_OK);

    const wrongThread = await check(tokenId, "thr_other");
    expect(wrongThread.out).toMatch(/^invalid: thread_mismatch/);
    expect(wrongThread.code).toBe(EXIT_FAILED);
    const missing = await check("apt_nope", thread);
    expect(missing.out).toMatch(/^invalid: missing/);
    expect(missing.code).toBe(EXIT_FAILED);
  });
});

describe("inbox --wait", () => {
  it("exits 3 when the wait timed out with nothing pending, 0 when an item came", async () => {
    await cli("register-manager", "--name", "im");
    const consume = await cli("session-inbox", "im", "--consume-next", "--wait", "--timeout", "0.3", "--json");
    expect(consume.code).toBe(EXIT_TIMED_OUT);
    expect(JSON.parse(consume.out)).toMatchObject({ item: null, timed_out: true });
    expect(consume.err).toContain("waiting up to 300ms for an item in im's inbox");
    const list = await cli("session-inbox", "im", "--wait", "--timeout", "0.3");
    expect(list.code).toBe(EXIT_TIMED_OUT);
    expect(list.out).toContain("(waited, timed out)");

    expect((await cli("send", "im", "ready")).code).toBe(EXIT_OK);
    const got = await cli("session-inbox", "im", "--consume-next", "--wait", "--timeout", "5");
    expect(got.code).toBe(EXIT_OK);
    expect(got.out).toMatch(/^consumed /);
    // Without --wait an empty inbox is an answer, not a timeout.
    expect((await cli("session-inbox", "im", "--consume-next")).code).toBe(EXIT_OK);
  });
});

describe("doctor", () => {
  it("exits 1 and says NOT OK when a check fails, 0 when every check passes", async () => {
    const saved = { ...process.env };
    try {
      // Keys in the agents' environment mean no login is needed; tmux and lsof are on this machine.
      Object.assign(process.env, { STUB_OPENAI_API_KEY: "sk-stub", ANTHROPIC_API_KEY: "sk-ant-stub", SWITCHYARD_AGENT_ENV: "STUB_OPENAI_API_KEY" });
      // A patrol that has never run is a problem of its own; one pass gives it a fresh heartbeat.
      expect((await cli("patrol", "run", "--once")).code).toBe(EXIT_OK);
      const ok = await cli("doctor");
      expect(ok.out).toMatch(/\nok\n?$/);
      expect(ok.code).toBe(EXIT_OK);

      process.env.SWITCHYARD_CODEX_BIN = join(sb.home, "no-such-codex");
      const bad = await cli("doctor");
      expect(bad.code).toBe(EXIT_FAILED);
      expect(bad.out).toContain(`problem:   codex CLI not found at ${join(sb.home, "no-such-codex")}`);
      expect(bad.out).toMatch(/\nNOT OK\n?$/);
      const json = await cli("doctor", "--json");
      expect(json.code).toBe(EXIT_FAILED);
      expect(JSON.parse(json.out)).toMatchObject({ ok: false, agents: { codex: { found: false } } });
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});
