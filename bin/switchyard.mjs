#!/usr/bin/env node
// The full CLI. Runs the bundle that `npm install` builds into dist/ (bin/build-cli.mjs) when it
// is newer than every file it was built from; otherwise runs the TypeScript sources through tsx,
// so an edited checkout never runs stale code. SWITCHYARD_NO_BUNDLE=1 forces the sources.
import { readFileSync, statSync } from "node:fs";
import { createRequire, Module } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const root = new URL("..", import.meta.url);
const bundlePath = fileURLToPath(new URL("dist/switchyard.cjs", root));
const cachePath = `${bundlePath}.v8cache`;

/**
 * Loads the CommonJS bundle through vm.Script with the V8 code cache kept next to it, which
 * skips most of the compile. Returns the exports and a function that stores a fresh cache when
 * there was none or V8 rejected it (another Node version); call it after the command ran, so the
 * cache also covers the functions that ran. Before it writes, it evaluates the modules that
 * commands load on demand: a cache first written by `--help` would otherwise leave every later
 * in-process command compiling the app from source.
 */
function loadBundle() {
  // Taken before the read: a bundle replaced in between gets a cache that matches neither.
  const bundleStat = statSync(bundlePath);
  const cachedData = entry.readCodeCache(cachePath, bundleStat);
  const script = new vm.Script(Module.wrap(readFileSync(bundlePath, "utf8")), {
    filename: bundlePath,
    cachedData,
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundlePath), module, bundlePath, dirname(bundlePath));
  const saveCache = async () => {
    if (cachedData && !script.cachedDataRejected) return;
    try {
      await module.exports.loadOnDemandModules?.();
    } catch {
      return;
    }
    entry.writeCodeCache(cachePath, script.createCachedData(), bundleStat);
  };
  return { cli: module.exports, saveCache };
}

// Shared with bin/switchyard.cjs (the installed command), which has tried the fast path already
// when it hands over to this file; run directly, this file tries it first too.
const entry = createRequire(import.meta.url)("./switchyard.cjs");
entry.quietOnClosedPipe();
const fastCode = await entry.runFastPath(process.argv.slice(2));
if (fastCode !== null) {
  process.exitCode = fastCode;
} else if (entry.isFresh("switchyard.cjs")) {
  const { cli, saveCache } = loadBundle();
  process.exitCode = await cli.runCli(process.argv.slice(2));
  await saveCache();
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const cli = await import("../local-runner/cli/main.ts");
  process.exitCode = await cli.runCli(process.argv.slice(2));
}
