// Spawned agents can run `switchyard` and reach the same home: a real tmux pane started with
// exactly the environment a spawn gives an agent runs the CLI found on its PATH.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { agentLaunchConfig, cliShimDir, ensureCliShim } from "../../local-runner/agents.ts";
import { resolveHome } from "../../local-runner/home.ts";
import { NodeHost } from "../../local-runner/host.ts";
import { openLocalServices } from "../../local-runner/services.ts";

const host = new NodeHost();
let dir = "";
let tmux: string | null = null;
afterEach(async () => {
  if (tmux) await host.tmuxKillSession(tmux).catch(() => {});
  tmux = null;
  rmSync(dir, { recursive: true, force: true });
});

async function waitForFile(path: string, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  while (!existsSync(path) || !readFileSync(path, "utf8").endsWith("\n")) {
    if (Date.now() > deadline) throw new Error(`${path} never appeared`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return readFileSync(path, "utf8");
}

describe("the environment of spawned agents", () => {
  it("carries SWITCHYARD_HOME and a PATH whose first entry holds the home's switchyard", () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-agents-"));
    const launch = agentLaunchConfig({ PATH: "/usr/bin:/bin", OPENAI_API_KEY: "k" }, resolveHome({}, { home: dir }));
    for (const agent of [launch.codex, launch.claude]) {
      expect(agent.env).toMatchObject({ SWITCHYARD_HOME: dir, OPENAI_API_KEY: "k" });
      expect(agent.env!.PATH!.split(delimiter)).toEqual([cliShimDir(dir), "/usr/bin", "/bin"]);
    }
  });

  it("opening a home writes an executable shim, rewritten only when it changed", async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-agents-"));
    (await openLocalServices({ home: resolveHome({}, { home: dir }) })).database.close();
    const shim = join(cliShimDir(dir), "switchyard");
    expect(statSync(shim).mode & 0o111).not.toBe(0);
    expect(readFileSync(shim, "utf8")).toContain(`'${process.execPath}'`);
    const before = statSync(shim).mtimeMs;
    expect(ensureCliShim(dir)).toBe(shim);
    expect(statSync(shim).mtimeMs).toBe(before);
  });

  it("lets a command inside a real tmux pane run `switchyard` against the same home", async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-agents-"));
    const services = await openLocalServices({ home: resolveHome({}, { home: dir }) });
    const token = services.ownerToken;
    services.database.close();
    const launch = agentLaunchConfig({ PATH: "/usr/bin:/bin" }, services.home);
    tmux = `cli-agent-env-${process.pid}`;
    // What an agent following a skill does: call `switchyard` by name, with no alias or install.
    const script = "switchyard --version > version.txt; switchyard tasks --create made-by-agent > tasks.txt 2>&1";
    await host.tmuxNewSession({ name: tmux, cwd: dir, command: ["sh", "-c", script], env: { ...launch.codex.env!, SWITCHYARD_TOKEN: token } });
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    expect((await waitForFile(join(dir, "version.txt"))).trim()).toBe(version);
    expect(await waitForFile(join(dir, "tasks.txt"))).toMatch(/^created task made-by-agent \(tsk_/);
  });
});
