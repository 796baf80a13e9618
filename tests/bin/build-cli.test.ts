import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveHome } from "../../local-runner/home.ts";
import { openLocalServices } from "../../local-runner/services.ts";
import { startUp } from "../../local-runner/up.ts";

// The CLI users run by default is the esbuild bundle, not the sources the other CLI tests load:
// a module that resolves files at run time (a UMD build's require, a path relative to its own
// source folder) works from the sources and breaks only once bundled. These tests build a bundle
// of their own (dist/ belongs to whatever CLI is running meanwhile) and run it.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OUT = `dist-test-${process.pid}`;
const BUNDLE = join(ROOT, OUT, "switchyard.cjs");
/** Required by ws inside try/catch: optional native speed-ups, absent here and fine to miss. */
const OPTIONAL = new Set(["bufferutil", "utf-8-validate"]);
/** bin/build-cli.mjs leaves these out of the bundle; they load from node_modules. */
const EXTERNAL = [/^libsql$/, /^@libsql\//, /^playwright-core$/];

let home = "";
beforeAll(() => {
  const built = spawnSync(process.execPath, [join(ROOT, "bin/build-cli.mjs"), "--outdir", OUT], { cwd: ROOT, encoding: "utf8" });
  // A failed build only warns (npm install must not fail over it), so the output is what says.
  expect(built.stderr).toBe("");
  expect(built.stdout).toContain(`built ${OUT}/switchyard.cjs`);
  // Runs the bundle the way bin/switchyard.mjs does once it is fresh: its runCli, in a plain process.
  writeFileSync(join(ROOT, OUT, "run.cjs"), 'require("./switchyard.cjs").runCli(process.argv.slice(2)).then((c) => { process.exitCode = c; });\n');
  home = mkdtempSync(join(tmpdir(), "switchyard-bundle-"));
  mkdirSync(join(home, "work"));
  mkdirSync(join(home, ".codex"));
});
afterAll(() => {
  rmSync(join(ROOT, OUT), { recursive: true, force: true });
  if (home) rmSync(home, { recursive: true, force: true });
});

/** Runs the bundled CLI in the temp HOME's work folder, with no Switchyard variables of the caller's. */
function bundled(...args: string[]) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: home, CODEX_HOME: join(home, ".codex") };
  const r = spawnSync(process.execPath, [join(ROOT, OUT, "run.cjs"), ...args], { cwd: join(home, "work"), env, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("the bundled CLI (bin/build-cli.mjs)", () => {
  it("runs hooks install, status and uninstall (jsonc-parser bundled from its ES module build)", () => {
    expect(bundled("init").code).toBe(0);
    for (const agent of ["claude", "codex"]) {
      const dry = bundled("hooks", "install", "--agent", agent, "--dry-run");
      expect(dry.err).toBe("");
      expect(dry.code).toBe(0);
      expect(dry.out).toContain("would create: add SessionStart, UserPromptSubmit");
      expect(dry.out).toContain("/v1/hooks/<agent>");
    }
    // A real install into a settings file with a comment and a hook of the user's own: parsed and
    // edited by jsonc-parser inside the bundle.
    const settings = join(home, ".claude", "settings.json");
    mkdirSync(join(home, ".claude"));
    const original = '{\n  // mine\n  "hooks": { "Stop": [ { "hooks": [ { "type": "command", "command": "say done" } ] } ] }\n}\n';
    writeFileSync(settings, original);
    const install = bundled("hooks", "install", "--agent", "claude");
    expect(install.err).toBe("");
    expect(install.code).toBe(0);
    const written = readFileSync(settings, "utf8");
    expect(written).toContain("say done");
    expect(written).toContain("switchyard-hook");
    const status = bundled("hooks", "status", "--agent", "claude", "--json");
    expect(status.code).toBe(0);
    expect(JSON.stringify(JSON.parse(status.out))).toContain("settings.json");
    const uninstall = bundled("hooks", "uninstall", "--agent", "claude");
    expect(uninstall.code).toBe(0);
    expect(readFileSync(settings, "utf8")).toBe(original);
  });

  it("leaves no module for run time that it cannot find: every require is built in, external, installed or optional", () => {
    const text = readFileSync(BUNDLE, "utf8");
    const requireFromBundle = createRequire(BUNDLE);
    const missing: string[] = [];
    for (const m of text.matchAll(/\brequire\d*\(\s*["']([^"']+)["']\s*\)/g)) {
      const spec = m[1]!;
      if (spec.startsWith("node:") || builtinModules.includes(spec) || OPTIONAL.has(spec) || EXTERNAL.some((r) => r.test(spec))) continue;
      try {
        requireFromBundle.resolve(spec);
      } catch {
        missing.push(spec);
      }
    }
    // jsonc-parser's UMD build left require("./impl/format") here (issue 14).
    expect(missing).toEqual([]);
  });

  it("builds the fast path for read commands apart and small, and it prints what the full bundle prints", async () => {
    const fast = join(ROOT, OUT, "switchyard-fast.cjs");
    expect(readFileSync(fast).length).toBeLessThan(150_000);
    expect(JSON.parse(readFileSync(join(ROOT, OUT, "switchyard-fast.inputs.json"), "utf8"))).toContain("local-runner/cli/fast.ts");
    const dir = mkdtempSync(join(tmpdir(), "switchyard-bundle-fast-"));
    const services = await openLocalServices({ home: resolveHome({}, { home: join(dir, "home") }) });
    const up = await startUp(services, { port: 0, hostname: "127.0.0.1", schedules: [] });
    // Asynchronous processes: the server answering them runs in this one.
    const run = async (file: string[], args: string[]) => {
      const env = { PATH: process.env.PATH ?? "", HOME: home };
      try {
        const r = await promisify(execFile)(process.execPath, [...file, ...args], { cwd: dir, env, encoding: "utf8" });
        return { code: 0, out: r.stdout, err: r.stderr };
      } catch (e) {
        const x = e as { code: number; stdout: string; stderr: string };
        return { code: x.code, out: x.stdout, err: x.stderr };
      }
    };
    // Exit code 99 when the fast path left the command to the full CLI.
    const viaFast = (args: string[]) =>
      run(["-e", `require(${JSON.stringify(fast)}).runFast(process.argv.slice(1)).then((c) => { process.exitCode = c ?? 99; })`], args);
    try {
      for (const args of [
        ["sessions", "--json"],
        ["session", "show", "nobody"],
      ]) {
        const at = [...args, "--url", up.url, "--token", services.ownerToken];
        const f = await viaFast(at);
        expect(f.code).not.toBe(99);
        expect(f).toEqual(await run([join(ROOT, OUT, "run.cjs")], at));
      }
      expect((await viaFast(["sessions", "--bogus", "--url", up.url, "--token", services.ownerToken])).code).toBe(99);
      // A value outside an option's choices is left to the full bundle, which refuses it (exit 2) before calling the server.
      const badChoice = ["sessions", "--state", "nonsense", "--url", up.url, "--token", services.ownerToken];
      expect(await viaFast(badChoice)).toEqual({ code: 99, out: "", err: "" });
      expect(await run([join(ROOT, OUT, "run.cjs")], badChoice)).toEqual({
        code: 2,
        out: "",
        err: "error: --state must be one of: active, gone, all; got 'nonsense'\nhint: run 'switchyard sessions --help'\n",
      });
    } finally {
      await up.stop();
      services.database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("builds the in-process fast path apart, without Hono, the libsql client's network transports or zod's locales, and it prints what the full bundle prints", async () => {
    const local = join(ROOT, OUT, "switchyard-fast-local.cjs");
    const text = readFileSync(local, "utf8");
    // No Hono app, router or request handling (ApiError's base class and two small helpers of Hono's do come along).
    for (const left of [
      "node_modules/hono/dist/hono-base.js",
      "node_modules/hono/dist/router/",
      "node_modules/hono/dist/request.js",
      "node_modules/@hono/",
      "node_modules/undici/",
    ]) {
      expect(text, left).not.toContain(`// ${left}`);
    }
    for (const left of ["node_modules/ws/", "node_modules/@libsql/hrana-client/", "node_modules/commander/", "node_modules/zod/v4/locales/ar.js"]) {
      expect(text, left).not.toContain(`// ${left}`);
    }
    expect(JSON.parse(readFileSync(join(ROOT, OUT, "switchyard-fast-local.inputs.json"), "utf8"))).toContain("local-runner/cli/fast-local.ts");
    const dir = mkdtempSync(join(tmpdir(), "switchyard-bundle-local-"));
    const env = { PATH: process.env.PATH ?? "", HOME: home, SWITCHYARD_HOME: join(dir, "home") };
    const run = (file: string[], args: string[]) => {
      const r = spawnSync(process.execPath, [...file, ...args], { cwd: dir, env, encoding: "utf8" });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };
    const full = (args: string[]) => run([join(ROOT, OUT, "run.cjs")], args);
    // Exit code 99 when the in-process fast path left the command to the full CLI.
    const viaLocal = (args: string[]) =>
      run(["-e", `require(${JSON.stringify(local)}).runLocal(process.argv.slice(1)).then((c) => { process.exitCode = c ?? 99; })`], args);
    try {
      expect(full(["init"]).code).toBe(0);
      expect(full(["register-worker", "--name", "bundle-w", "--thread-id", "t-w"]).code).toBe(0);
      expect(full(["register-manager", "--name", "bundle-m", "--thread-id", "t-m"]).code).toBe(0);
      expect(full(["tasks", "--create", "bundle-task", "--goal", "read me"]).code).toBe(0);
      expect(full(["bind", "--task", "bundle-task", "--worker", "bundle-w", "--manager", "bundle-m"]).code).toBe(0);
      // Those commands queued their audit events for telemetry, and a text search reads telemetry
      // only once it is caught up, which writes: the fast path leaves that one to the full CLI,
      // whose run feeds the queue; after it the fast path answers the search itself.
      expect(viaLocal(["discover", "bundle"]).code).toBe(99);
      expect(full(["discover", "bundle"]).code).toBe(0);
      for (const args of [
        ["sessions"],
        ["sessions", "--json", "--role", "worker"],
        ["session", "show", "bundle-w"],
        ["session", "show", "nobody", "--json"],
        ["tasks"],
        ["task", "show", "bundle-task", "--json"],
        ["bindings"],
        ["discover", "bundle"],
        ["audit", "bundle-task", "--json"],
        ["messages"],
        ["session-inbox", "bundle-m"],
        ["manager-inbox", "bundle-task", "--json"],
        ["worker-inbox", "bundle-task"],
      ]) {
        const f = viaLocal(args);
        expect(f.code, args.join(" ")).not.toBe(99);
        expect(f).toEqual(full(args));
      }
      // Validation the route does (zod, here without @hono/zod-openapi) refuses what the app refuses: the full CLI reports it.
      expect(viaLocal(["session", "show", "bad!"]).code).toBe(99);
      expect(full(["session", "show", "bad!"]).err).toContain("VALIDATION_FAILED");
      // A value outside an option's choices never reaches a route: the full bundle's usage error.
      expect(viaLocal(["sessions", "--state", "nonsense"]).code).toBe(99);
      expect(full(["sessions", "--state", "nonsense"]).code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("saves the top-level help the bundle prints, for bin/switchyard.cjs to print without loading it", () => {
    const saved = readFileSync(join(ROOT, OUT, "switchyard-help.txt"), "utf8");
    expect(saved).toContain("session show NAME");
    // It is current while the modules the entry imports statically are: every command spec is among them.
    const helpInputs: string[] = JSON.parse(readFileSync(join(ROOT, OUT, "switchyard-help.inputs.json"), "utf8"));
    const all: string[] = JSON.parse(readFileSync(join(ROOT, OUT, "switchyard.inputs.json"), "utf8"));
    expect(helpInputs).toEqual(expect.arrayContaining(["local-runner/cli/main.ts", "local-runner/cli/commands.ts", "local-runner/cli/messages-commands.ts"]));
    expect(helpInputs.filter((f) => !all.includes(f))).toEqual([]);
    expect(helpInputs.length).toBeLessThan(all.length / 2);
    for (const flag of ["--help", "-h"]) expect(bundled(flag)).toEqual({ code: 0, out: saved, err: "" });
  });

  it("resolves no path from a source folder deeper than the bundle's (it would point outside the package)", () => {
    // dist/ is one level below the package root; a `../../x` written in local-runner/cli/ would
    // escape the root once bundled (how `pair` lost its dispatcher's entry script).
    const text = readFileSync(BUNDLE, "utf8");
    expect(text.match(/new URL\(["'`]\.\.\/\.\.\/[^)]*__switchyardModuleUrl\)/g) ?? []).toEqual([]);
  });
});
