import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createTask } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { runSteps } from "./helpers.ts";

let env: TestEnv;
afterEach(() => env?.close());

/** Writes <home>/plugins/NAME/plugin.md with the given frontmatter lines and a script beside it. */
function plugin(name: string, frontmatter: string[], script?: string) {
  const dir = join(env.dir, "plugins", name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "plugin.md"), `---\n${frontmatter.join("\n")}\n---\nWhat this plugin is for.\n`);
  if (script) writeFileSync(join(dir, "run.mjs"), script);
  return dir;
}

const node = JSON.stringify(process.execPath);
const pluginStep = async () => (await runSteps(env, "plugin-run"))["plugin-run"];

describe("plugins", () => {
  it("runs a cooldown plugin when its gate opens, with argument arrays, a stripped environment and recorded output", async () => {
    env = await makeTestEnv();
    process.env.SWITCHYARD_PLUGIN_TEST_SECRET = "must-not-leak";
    try {
      const dir = plugin(
        "reporter",
        ["gate:", "  type: cooldown", "  cooldown: 1h", `command: [${node}, "run.mjs", "a b; rm -rf /", "$HOME"]`, "env:", "  GREETING: hello"],
        `import { appendFileSync } from "node:fs";
appendFileSync("ran.log", "x");
console.log(JSON.stringify({ args: process.argv.slice(2), greeting: process.env.GREETING, secret: process.env.SWITCHYARD_PLUGIN_TEST_SECRET ?? null, token: process.env.SWITCHYARD_TOKEN ?? null, plugin: process.env.SWITCHYARD_PLUGIN }));`,
      );
      const first = await pluginStep();
      expect(first).toMatchObject({ found: 1, ran: 1, failed: 0 });
      const run = await env.call("GET", "/v1/patrol/plugins");
      expect(run.body.plugins[0]).toMatchObject({ name: "reporter", valid: true, runs: 1, last_state: "succeeded", gate_open: false });
      // The command's output is recorded: literal arguments, declared env only.
      const rows = await env.services.database.client.execute("SELECT stdout FROM plugin_runs");
      const out = JSON.parse(String(rows.rows[0]!.stdout));
      expect(out).toEqual({ args: ["a b; rm -rf /", "$HOME"], greeting: "hello", secret: null, token: null, plugin: "reporter" });
      // Cooling down: not again until an hour has passed.
      expect((await pluginStep()).ran).toBe(0);
      env.clock.advance(3600);
      expect((await pluginStep()).ran).toBe(1);
      expect(readFileSync(join(dir, "ran.log"), "utf8")).toBe("xx");
    } finally {
      delete process.env.SWITCHYARD_PLUGIN_TEST_SECRET;
    }
  });

  it("kills a plugin that outlives its timeout and records a failing one; the others still run", async () => {
    env = await makeTestEnv();
    plugin("a-slow", ["gate:", "  type: event", "  event: patrol", `command: [${node}, "-e", "setTimeout(() => {}, 60000)"]`, "timeout: 1s"]);
    plugin("b-fails", ["gate:", "  type: event", "  event: patrol", `command: [${node}, "-e", "console.error('boom'); process.exit(3)"]`]);
    plugin("c-ok", ["gate:", "  type: event", "  event: patrol", `command: [${node}, "-e", "console.log('fine')"]`]);
    plugin("d-bad", ["gate:", "  type: sometimes", "command: []"]);
    const r = await pluginStep();
    expect(r.runs.map((x: any) => [x.plugin, x.state, x.exit_code])).toEqual([
      ["a-slow", "timed_out", null],
      ["b-fails", "failed", 3],
      ["c-ok", "succeeded", 0],
    ]);
    expect(r.invalid).toHaveLength(1);
    expect(r.invalid[0].plugin).toBe("d-bad");
    const cli = await env.call("POST", "/v1/patrol/plugins/b-fails/run");
    expect(cli.body.run).toMatchObject({ state: "failed", exit_code: 3, stderr: "boom\n" });
    expect((await env.call("POST", "/v1/patrol/plugins/d-bad/run")).status).toBe(400);
    expect((await env.call("POST", "/v1/patrol/plugins/nope/run")).status).toBe(404);
    const daemon = await env.mint("daemon");
    expect((await env.call("POST", "/v1/patrol/plugins/c-ok/run", { token: daemon })).status).toBe(403);
  });

  it("opens cron, condition and event gates from the injected clock and the database", async () => {
    env = await makeTestEnv({ clockAt: Date.parse("2026-11-21T08:59:30.000Z") });
    plugin("morning", ["gate:", "  type: cron", '  cron: "0 9 * * *"', `command: [${node}, "-e", "0"]`]);
    plugin("gates-pile-up", ["gate:", "  type: condition", "  metric: open_gates", '  op: ">="', "  value: 2", `command: [${node}, "-e", "0"]`]);
    plugin("on-finish", ["gate:", "  type: event", "  event: task_finished", `command: [${node}, "-e", "0"]`]);
    const ran = async () => (await pluginStep()).runs.map((x: any) => x.plugin);
    expect(await ran()).toEqual([]);
    env.clock.advance(31); // 09:00:01
    await env.call("POST", "/v1/gates", { body: { type: "human" } });
    await env.call("POST", "/v1/gates", { body: { type: "human" } });
    const t = (await createTask(env)).task.name;
    await env.call("POST", `/v1/tasks/${t}/finish`, { body: {} });
    env.clock.advance(1);
    expect(await ran()).toEqual(["gates-pile-up", "morning", "on-finish"]);
    env.clock.advance(60);
    // The cron ran today, the event was seen; the condition still holds.
    expect(await ran()).toEqual(["gates-pile-up"]);
    env.clock.advance(86_400);
    expect(await ran()).toEqual(["gates-pile-up", "morning"]);
  });

  it("skips plugin directories that escape the plugin dir through a symlink", async () => {
    env = await makeTestEnv();
    const outside = join(env.dir, "elsewhere", "evil");
    mkdirSync(outside, { recursive: true });
    writeFileSync(
      join(outside, "plugin.md"),
      `---\ngate:\n  type: event\n  event: patrol\ncommand: [${node}, "-e", "require('fs').writeFileSync('pwned','')"]\n---\n`,
    );
    mkdirSync(join(env.dir, "plugins"), { recursive: true });
    symlinkSync(outside, join(env.dir, "plugins", "evil"));
    expect((await pluginStep()).found).toBe(0);
    expect(existsSync(join(outside, "pwned"))).toBe(false);
  });
});
