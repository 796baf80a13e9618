import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, type Stats, statSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire, Module } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Script } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../local-runner/cli/main.ts";
import { resolveHome } from "../../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../../local-runner/services.ts";
import { startUp, type Running } from "../../local-runner/up.ts";

// bin/switchyard.cjs is the installed command: it tries the fast path for reads, then hands over
// to bin/switchyard.mjs. Whichever path a command takes (the fast one needs a fresh dist/), the
// process must print and exit exactly as the full CLI does.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "switchyard.cjs");
let dir = "";
let services: LocalServices;
let running: Running;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "switchyard-bin-cjs-"));
  services = await openLocalServices({ home: resolveHome({}, { home: join(dir, "home") }) });
  running = await startUp(services, { port: 0, hostname: "127.0.0.1", schedules: [] });
});
afterAll(async () => {
  await running?.stop();
  services?.database.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the installed command in a process of its own (asynchronously: this process is the server). */
async function bin(...args: string[]) {
  const env = { PATH: process.env.PATH ?? "", HOME: dir };
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: "utf8" });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

async function inProcess(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (t) => out.push(`${t}\n`), err: (t) => err.push(`${t}\n`) }, { cwd: dir });
  return { code, out: out.join(""), err: err.join("") };
}

describe("bin/switchyard.cjs", () => {
  it("prints and exits as the full CLI does, for reads, errors, the top-level help and usage mistakes", async () => {
    const at = ["--url", running.url, "--token", services.ownerToken];
    for (const args of [
      ["sessions", "--json", ...at],
      ["session", "show", "nobody", ...at],
      ["sessions", "--bogus", ...at],
      // A value outside an option's choices: the fast path leaves it to the full CLI's usage error.
      ["sessions", "--state", "nonsense", ...at],
      ["bogus"],
      ["--help"],
      ["-h"],
    ]) {
      expect(await bin(...args)).toEqual(await inProcess(...args));
    }
    const version = await bin("--version");
    expect(version.code).toBe(0);
    expect(version.out.trim()).toBe(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
  }, 60_000);

  it("loads the libsql binding without building a diagnostic report, and leaves process.report as it found it", () => {
    // A child process: the probe swaps a process-wide function, and the binding loads once per process.
    const script = `
      const { quickLibcProbe } = require(${JSON.stringify(BIN)});
      const real = process.report.getReport;
      let built = 0;
      const counting = function (...a) { built++; return real.apply(this, a); };
      process.report.getReport = counting;
      const restore = quickLibcProbe();
      const Database = require("libsql");
      const one = new Database(":memory:").prepare("SELECT 41 + 1 AS n").get().n;
      restore();
      const duringLoad = built;
      const same = process.report.getReport === counting;
      // Once restored, a report is a real one again.
      const header = process.report.getReport().header;
      // Answered from detect-libc once, then the real report, whatever was asked in between.
      const again = quickLibcProbe();
      const quick = process.report.getReport();
      const second = process.report.getReport();
      again();
      const family = require("module").createRequire(require.resolve("libsql"))("detect-libc").familySync();
      console.log(JSON.stringify({ family, one, built: duringLoad, same, real: typeof header.nodejsVersion, quick, secondReal: typeof second.header.nodejsVersion, after: built }));
    `;
    const r = spawnSync(process.execPath, ["-e", script], { cwd: ROOT, encoding: "utf8" });
    expect(r.stderr).toBe("");
    const got = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(got.one).toBe(42);
    // This machine's libc is one detect-libc knows (CI runs on glibc), so no report was built.
    expect(["glibc", "musl"]).toContain(got.family);
    expect(got.built).toBe(0);
    expect(got.same).toBe(true);
    expect(got.real).toBe("string");
    expect(got.quick).toEqual(got.family === "glibc" ? { header: { glibcVersionRuntime: "" } } : { header: {} });
    expect(got.secondReal).toBe("string");
    expect(got.after).toBe(2);
  });

  it("runs a bundle's own code whatever V8 code cache lies beside it: one from a build of the same length, or damaged bytes", () => {
    const bundle = join(dir, "bundle.cjs");
    const cache = `${bundle}.v8cache`;
    // The bundle's function, run and then cached the way bin/switchyard.cjs loads it; prints what it returns.
    const load = () =>
      spawnSync(
        process.execPath,
        ["-e", `const l = require(${JSON.stringify(BIN)}).loadCached(${JSON.stringify(bundle)}); console.log(l.exports.answer()); l.saveCache();`],
        { encoding: "utf8" },
      );
    const source = (word: string) => `exports.answer = function () { return ${JSON.stringify(word)} + [1, 2, 3].map((n) => n * 2).join(","); };\n`;
    /** A cache as V8 makes it, with the function compiled (what a run leaves behind). */
    const rawCache = (text: string) => {
      const script = new Script(Module.wrap(text), { filename: bundle });
      const exports: { answer?: () => string } = {};
      script.runInThisContext()(exports, createRequire(bundle), { exports }, bundle, dir);
      exports.answer?.();
      return script.createCachedData();
    };
    // A cache of an earlier build whose bundle had the same length: V8 itself would run the earlier code.
    writeFileSync(cache, rawCache(source("old")));
    writeFileSync(bundle, source("new"));
    expect(load()).toMatchObject({ status: 0, stdout: "new2,4,6\n" });
    // Damaged bytes in a cache V8 would otherwise take: the process must not abort (it did, SIGTRAP, on every start).
    const damaged = rawCache(source("new"));
    for (let i = Math.floor(damaged.length / 4); i < damaged.length; i += 7) damaged[i] = damaged[i]! ^ 0xff;
    writeFileSync(cache, damaged);
    expect(load()).toMatchObject({ status: 0, signal: null, stdout: "new2,4,6\n" });
    // A cache the loader wrote itself is used, and stops being used once the bundle changes, even at the same length.
    expect(load()).toMatchObject({ status: 0, stdout: "new2,4,6\n" });
    const { readCodeCache } = createRequire(import.meta.url)(BIN) as { readCodeCache: (p: string, s: Stats) => Buffer | undefined };
    const written = readCodeCache(cache, statSync(bundle));
    expect(written && new Script(Module.wrap(source("new")), { filename: bundle, cachedData: written }).cachedDataRejected).toBe(false);
    // The loader's own file with a damaged byte in its data fails the checksum and is no cache.
    const kept = readFileSync(cache);
    const flipped = Buffer.from(kept);
    flipped[flipped.length - 9] = flipped[flipped.length - 9]! ^ 0x10;
    writeFileSync(cache, flipped);
    expect(readCodeCache(cache, statSync(bundle))).toBeUndefined();
    expect(load()).toMatchObject({ status: 0, signal: null, stdout: "new2,4,6\n" });
    writeFileSync(bundle, source("NEW"));
    utimesSync(bundle, new Date(), new Date(Date.now() + 5000));
    expect(readCodeCache(cache, statSync(bundle))).toBeUndefined();
    expect(load()).toMatchObject({ status: 0, stdout: "NEW2,4,6\n" });
    expect(readCodeCache(cache, statSync(bundle))).toBeDefined();
  });
});
