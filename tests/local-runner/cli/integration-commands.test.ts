import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { installSkills, skillDirs, skillsRoot } from "../../../local-runner/skills.ts";
import { claudeBinary, codexBinary } from "../../helpers/agents.ts";
import { registerSession } from "../../helpers/factories.ts";
import { cliWithEnv, serveApp } from "../../helpers/hooks.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

const execFileP = promisify(execFile);
let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-integration-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("install-skills", () => {
  it("copies every skill into ~/.claude/skills and $CODEX_HOME/skills, and a second run writes nothing", async () => {
    const home = join(dir, "home");
    const codexHome = join(dir, "codex");
    mkdirSync(home);
    const env = { HOME: home, CODEX_HOME: codexHome, CLAUDE_CONFIG_DIR: "" };
    const dry = await cliWithEnv(["install-skills", "--dry-run", "--json"], env);
    expect(dry.code, dry.err).toBe(0);
    expect(existsSync(join(home, ".claude"))).toBe(false);
    const first = await cliWithEnv(["install-skills", "--json"], env);
    expect(first.code, first.err).toBe(0);
    const written = JSON.parse(first.out).installed;
    expect(written.map((r: any) => r.dir)).toEqual([join(home, ".claude", "skills"), join(codexHome, "skills")]);
    for (const skill of skillDirs()) {
      const src = readFileSync(join(skillsRoot(), skill, "SKILL.md"));
      expect(readFileSync(join(home, ".claude", "skills", skill, "SKILL.md")).equals(src)).toBe(true);
      expect(readFileSync(join(codexHome, "skills", skill, "SKILL.md")).equals(src)).toBe(true);
    }
    expect(written.flatMap((r: any) => r.files).every((f: any) => f.action === "create")).toBe(true);
    const second = await cliWithEnv(["install-skills", "--json"], env);
    expect(
      JSON.parse(second.out)
        .installed.flatMap((r: any) => r.files)
        .every((f: any) => f.action === "unchanged"),
    ).toBe(true);
    // One agent only, and a changed file is put back.
    writeFileSync(join(codexHome, "skills", "advice-broker", "SKILL.md"), "edited");
    const codexOnly = await cliWithEnv(["install-skills", "--agent", "codex"], env);
    expect(codexOnly.out).toMatch(/codex .*advice-broker\/SKILL\.md {2}updated/);
    expect(codexOnly.out).not.toMatch(/^claude/m);
  });

  it("installs whatever skill directories exist, so a skill added later needs no code change", () => {
    const root = join(dir, "skills");
    mkdirSync(join(root, "patrol-and-coordination"), { recursive: true });
    writeFileSync(join(root, "patrol-and-coordination", "SKILL.md"), "---\nname: patrol-and-coordination\n---\n");
    mkdirSync(join(root, "not-a-skill"));
    const res = installSkills(join(dir, "out"), false, root);
    expect(res.files.map((f) => f.skill)).toEqual(["patrol-and-coordination"]);
    expect(existsSync(join(dir, "out", "patrol-and-coordination", "SKILL.md"))).toBe(true);
  });
});

describe("mcp install", () => {
  let env: TestEnv;
  let server: { url: string; close(): Promise<void> };
  beforeEach(async () => {
    env = await makeTestEnv();
    server = await serveApp(env);
  });
  afterEach(async () => {
    await server.close();
    env.close();
  });

  it("registers /mcp with the real Claude Code CLI, which reports it connected with a session token", async () => {
    const config = join(dir, "claude");
    mkdirSync(config);
    writeFileSync(join(config, ".claude.json"), JSON.stringify({ hasCompletedOnboarding: true }));
    const agentEnv = { CLAUDE_CONFIG_DIR: config, HOME: dir, SWITCHYARD_CLAUDE_BIN: claudeBinary() };
    const res = await cliWithEnv(["mcp", "install", "--agent", "claude", "--url", server.url, "--json"], agentEnv);
    expect(res.code, res.out + res.err).toBe(0);
    expect(JSON.parse(res.out)).toMatchObject({ action: "add", url: `${server.url}/mcp` });
    const again = await cliWithEnv(["mcp", "install", "--agent", "claude", "--url", server.url, "--json"], agentEnv);
    expect(JSON.parse(again.out).action).toBe("unchanged");
    // The token stays out of the config: Claude expands it from the agent's environment.
    expect(readFileSync(join(config, ".claude.json"), "utf8")).toContain(["Bearer $", "{SWITCHYARD_TOKEN}"].join(""));
    const session = await registerSession(env, "worker");
    const list = async (token: string) =>
      (
        await execFileP(claudeBinary(), ["mcp", "list"], {
          env: { PATH: process.env.PATH, HOME: dir, CLAUDE_CONFIG_DIR: config, SWITCHYARD_TOKEN: token, DISABLE_AUTOUPDATER: "1", DISABLE_TELEMETRY: "1" },
          timeout: 90_000,
        })
      ).stdout;
    expect(await list(session.token)).toContain(`switchyard: ${server.url}/mcp (HTTP) - ✔ Connected`);
    expect(await list("sy_session_not-a-token")).not.toContain("✔ Connected");
    const gone = await cliWithEnv(["mcp", "uninstall", "--agent", "claude"], agentEnv);
    expect(gone.code).toBe(0);
    expect(await list(session.token)).not.toContain("switchyard:");
  }, 180_000);

  it("registers /mcp with the real Codex CLI, with the bearer token read from SWITCHYARD_TOKEN", async () => {
    const codexHome = join(dir, "codex");
    mkdirSync(codexHome);
    const agentEnv = { CODEX_HOME: codexHome, HOME: dir, SWITCHYARD_CODEX_BIN: codexBinary({ native: true }) };
    const res = await cliWithEnv(["mcp", "install", "--agent", "codex", "--url", server.url], agentEnv);
    expect(res.code, res.out + res.err).toBe(0);
    const toml = readFileSync(join(codexHome, "config.toml"), "utf8");
    expect(toml).toContain("[mcp_servers.switchyard]");
    expect(toml).toContain(`url = "${server.url}/mcp"`);
    expect(toml).toContain('bearer_token_env_var = "SWITCHYARD_TOKEN"');
    expect((await cliWithEnv(["mcp", "uninstall", "--agent", "codex"], agentEnv)).code).toBe(0);
    expect(readFileSync(join(codexHome, "config.toml"), "utf8")).not.toContain("switchyard");
  }, 120_000);

  it("needs --agent", async () => {
    expect((await cliWithEnv(["mcp", "install"], {})).code).toBe(2);
  });
});
