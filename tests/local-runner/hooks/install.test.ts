import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hookScriptPath } from "../../../local-runner/hooks/install.ts";
import { DEFAULT_HOOK_URL } from "../../../local-runner/cli/hooks-commands.ts";
import { cliSandbox } from "../../helpers/cli.ts";
import { startUpProcess } from "../../helpers/up-process.ts";

const execFileP = promisify(execFile);
const sb = cliSandbox("hooks");
const saved: Record<string, string | undefined> = {};
let claudeDir = "";
let codexHome = "";

beforeEach(async () => {
  for (const k of ["CLAUDE_CONFIG_DIR", "CODEX_HOME", "HOME"]) saved[k] = process.env[k];
  claudeDir = join(sb.home, "..", "claude-config");
  codexHome = join(sb.home, "..", "codex-home");
  mkdirSync(claudeDir);
  mkdirSync(codexHome);
  process.env.CLAUDE_CONFIG_DIR = claudeDir;
  process.env.CODEX_HOME = codexHome;
  process.env.HOME = join(sb.home, "..");
  expect((await sb.cli("init")).code).toBe(0);
});
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const URL = "http://127.0.0.1:9";

/** Settings files as people write them: the bytes must survive install + uninstall exactly. */
const ORIGINALS: Record<string, string> = {
  twoSpaces: '{\n  "permissions": {\n    "defaultMode": "default"\n  }\n}\n',
  fourSpacesCompactAndOwnHooks:
    '{\n    "hooks": {\n        "Stop": [ {"hooks": [{"type": "command", "command": "say done"}]} ],\n        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit.sh"}]}]\n    },\n    "x": [1, 2]\n}\n',
  tabsNoTrailingNewline: '{\n\t"model": "opus",\n\t"allowedHttpHookUrls": ["https://hooks.example.com/*"],\n\t"httpHookAllowedEnvVars": ["OTHER"]\n}',
  empty: "{}\n",
  oneLine: '{"env": {"A": "1"}}',
};

describe("hooks install / uninstall --agent claude", () => {
  for (const [name, original] of Object.entries(ORIGINALS)) {
    it(`merges into, keeps and restores byte for byte: ${name}`, async () => {
      const file = join(claudeDir, "settings.json");
      writeFileSync(file, original);
      const first = await sb.cli("hooks", "install", "--agent", "claude", "--hook-url", URL, "--json");
      expect(first.code, first.err).toBe(0);
      const installed = readFileSync(file, "utf8");
      const parsed = JSON.parse(installed);
      const before = JSON.parse(original);
      // Everything the user had is still there, unchanged.
      for (const [k, v] of Object.entries(before)) if (k !== "hooks" && !k.startsWith("allowed") && !k.startsWith("httpHook")) expect(parsed[k]).toEqual(v);
      for (const [ev, groups] of Object.entries<any[]>(before.hooks ?? {})) expect(parsed.hooks[ev].slice(0, groups.length)).toEqual(groups);
      expect(parsed.hooks.SessionStart.at(-1).hooks[0]).toEqual({ type: "command", command: `'${hookScriptPath(sb.home)}' claude`, timeout: 5 });
      expect(parsed.hooks.PermissionRequest.at(-1).hooks[0]).toMatchObject({
        type: "http",
        url: `${URL}/v1/hooks/claude`,
        headers: { Authorization: "Bearer $SWITCHYARD_HOOK_TOKEN" },
        allowedEnvVars: ["SWITCHYARD_HOOK_TOKEN"],
      });
      if (before.allowedHttpHookUrls) {
        expect(parsed.allowedHttpHookUrls).toEqual([...before.allowedHttpHookUrls, `${URL}/v1/hooks/claude`]);
        expect(parsed.httpHookAllowedEnvVars).toEqual([...before.httpHookAllowedEnvVars, "SWITCHYARD_HOOK_TOKEN"]);
      }
      // A second install changes nothing.
      const second = await sb.cli("hooks", "install", "--agent", "claude", "--hook-url", URL, "--json");
      expect(JSON.parse(second.out).changes[0].action).toBe("unchanged");
      expect(readFileSync(file, "utf8")).toBe(installed);
      const gone = await sb.cli("hooks", "uninstall", "--agent", "claude");
      expect(gone.code).toBe(0);
      expect(readFileSync(file, "utf8")).toBe(original);
    });
  }

  it("removes only its own entries when the file changed after install, and keeps the change", async () => {
    const file = join(claudeDir, "settings.json");
    writeFileSync(file, ORIGINALS.fourSpacesCompactAndOwnHooks!);
    await sb.cli("hooks", "install", "--agent", "claude", "--hook-url", URL);
    writeFileSync(file, readFileSync(file, "utf8").replace('"x": [1, 2]', '"x": [1, 2, 3]'));
    const res = await sb.cli("hooks", "uninstall", "--agent", "claude", "--json");
    expect(JSON.parse(res.out).changes[0]).toMatchObject({ action: "update", note: expect.stringContaining("changed since install") });
    expect(readFileSync(file, "utf8")).toBe(ORIGINALS.fourSpacesCompactAndOwnHooks!.replace('"x": [1, 2]', '"x": [1, 2, 3]'));
  });

  it("creates a missing settings file and deletes it again on uninstall; --dry-run writes nothing", async () => {
    const file = join(claudeDir, "settings.json");
    const dry = await sb.cli("hooks", "install", "--agent", "claude", "--hook-url", URL, "--dry-run");
    expect(dry.code).toBe(0);
    expect(dry.out).toContain("would create");
    expect(existsSync(file)).toBe(false);
    expect(existsSync(hookScriptPath(sb.home))).toBe(false);
    await sb.cli("hooks", "install", "--agent", "claude", "--hook-url", URL);
    expect(existsSync(file)).toBe(true);
    const status = await sb.cli("hooks", "status", "--agent", "claude", "--hook-url", URL, "--json");
    expect(JSON.parse(status.out).hooks[0]).toMatchObject({ scope: "user", exists: true, missing: [], url: URL, current: true });
    await sb.cli("hooks", "uninstall", "--agent", "claude");
    expect(existsSync(file)).toBe(false);
  });

  it("refuses a settings file that is not JSON, naming it, and leaves it alone", async () => {
    const file = join(claudeDir, "settings.json");
    writeFileSync(file, '{"a": ');
    const res = await sb.cli("hooks", "install", "--agent", "claude", "--hook-url", URL);
    expect(res.code).toBe(1);
    expect(res.err).toContain(file);
    expect(readFileSync(file, "utf8")).toBe('{"a": ');
  });

  it("needs --agent, and a known one", async () => {
    expect((await sb.cli("hooks", "install")).code).toBe(2);
    expect((await sb.cli("hooks", "install", "--agent", "gemini")).code).toBe(2);
  });
});

describe("hooks install --agent codex", () => {
  it("writes hooks.json, has the real codex trust them with its own hashes, and uninstall gives config.toml back", async () => {
    const config = join(codexHome, "config.toml");
    const original = 'model = "stub-model"\n[features]\nhooks = true';
    writeFileSync(config, original);
    const res = await sb.cli("hooks", "install", "--agent", "codex", "--hook-url", URL, "--json");
    expect(res.code, res.out + res.err).toBe(0);
    const hooks = JSON.parse(readFileSync(join(codexHome, "hooks.json"), "utf8")).hooks;
    expect(Object.keys(hooks)).toEqual([
      "SessionStart",
      "UserPromptSubmit",
      "PreToolUse",
      "PermissionRequest",
      "PostToolUse",
      "PreCompact",
      "PostCompact",
      "Stop",
    ]);
    expect(readFileSync(config, "utf8").startsWith(original)).toBe(true);
    const status = await sb.cli("hooks", "status", "--agent", "codex", "--hook-url", URL, "--json");
    const user = JSON.parse(status.out).hooks.find((h: any) => h.scope === "user");
    expect(user.trust).toHaveLength(8);
    expect(user.trust.every((t: any) => t.trust === "trusted")).toBe(true);
    const again = await sb.cli("hooks", "install", "--agent", "codex", "--hook-url", URL, "--json");
    expect(JSON.parse(again.out).trust[0].changed).toBe(false);
    await sb.cli("hooks", "uninstall", "--agent", "codex");
    expect(readFileSync(config, "utf8")).toBe(original);
    expect(existsSync(join(codexHome, "hooks.json"))).toBe(false);
  }, 60_000);
});

describe("the URL the hooks post to", () => {
  it("is the running `switchyard up` of the home, whatever its port, and says so; the default once it stopped (issue 14)", async () => {
    const up = startUpProcess(sb.home, ["--no-cron"]);
    try {
      const url = await up.url;
      expect(url).not.toBe(DEFAULT_HOOK_URL);
      const r = await sb.cli("hooks", "install", "--agent", "claude", "--dry-run", "--json");
      expect(r.code).toBe(0);
      const out = JSON.parse(r.out);
      expect(out.url).toBe(url);
      expect(out.url_source).toBe(`the running \`switchyard up\` (pid ${up.child.pid})`);
      const human = await sb.cli("hooks", "install", "--agent", "claude", "--dry-run");
      expect(human.out).toContain(`hooks post to ${url}/v1/hooks/<agent> (from the running \`switchyard up\``);
      // What the command talks to wins over the recorded server.
      const flagged = JSON.parse((await sb.cli("hooks", "install", "--agent", "claude", "--dry-run", "--json", "--hook-url", URL)).out);
      expect(flagged).toMatchObject({ url: URL, url_source: "--hook-url" });
      // A real install writes that URL into the agent's settings.
      expect((await sb.cli("hooks", "install", "--agent", "claude")).code).toBe(0);
      expect(readFileSync(join(claudeDir, "settings.json"), "utf8")).toContain(`${url}/v1/hooks/claude`);
    } finally {
      up.child.kill("SIGTERM");
      await up.exit;
    }
    const after = JSON.parse((await sb.cli("hooks", "install", "--agent", "claude", "--dry-run", "--json")).out);
    expect(after.url).toBe(DEFAULT_HOOK_URL);
    expect(after.url_source).toContain("the default");
  });
});

describe("the hook script", () => {
  it("never fails or holds up the agent when no server answers", async () => {
    await sb.cli("hooks", "install", "--agent", "claude", "--hook-url", URL);
    const started = Date.now();
    const child = execFileP(hookScriptPath(sb.home), ["claude"], { env: { PATH: process.env.PATH!, SWITCHYARD_HOOK_TOKEN: "x" } });
    child.child.stdin!.end('{"hook_event_name":"SessionStart"}');
    const { stdout } = await child;
    expect(stdout).toBe("");
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
