#!/usr/bin/env node
// Entry point. Runs the bundle that `npm install` builds into dist/ (bin/build-cli.mjs) when it
// is newer than every file it was built from; otherwise runs the TypeScript sources through tsx,
// so an edited checkout never runs stale code. SWITCHYARD_NO_BUNDLE=1 forces the sources.
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire, Module } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const root = new URL("..", import.meta.url);
const bundlePath = fileURLToPath(new URL("dist/switchyard.cjs", root));
const cachePath = `${bundlePath}.v8cache`;

/**
 * True when dist/ holds the bundle at `path` and no source file it was built from (listed in
 * `inputsFile`), package.json or installed dependency is newer than it.
 */
function isFresh(path = bundlePath, inputsFile = "dist/switchyard.inputs.json") {
  if (process.env.SWITCHYARD_NO_BUNDLE === "1") return false;
  try {
    const builtAt = statSync(path).mtimeMs;
    const inputs = JSON.parse(readFileSync(new URL(inputsFile, root), "utf8"));
    // npm rewrites node_modules/.package-lock.json on every install, so a dependency change shows there.
    for (const p of [...inputs, "package.json", "node_modules/.package-lock.json"]) {
      if (statSync(new URL(p, root)).mtimeMs > builtAt) return false;
    }
    return true;
  } catch {
    // No bundle, no input list, or an input that no longer exists: the bundle cannot be trusted.
    return false;
  }
}

/**
 * Loads the CommonJS bundle through vm.Script with the V8 code cache kept next to it, which
 * skips most of the compile. Returns the exports and a function that stores a fresh cache when
 * there was none or V8 rejected it (another Node version); call it after the command ran, so the
 * cache also covers the functions that ran. Before it writes, it evaluates the modules that
 * commands load on demand: a cache first written by `--help` would otherwise leave every later
 * in-process command compiling the app from source.
 */
function loadBundle() {
  let cachedData;
  try {
    cachedData = readFileSync(cachePath);
  } catch {
    cachedData = undefined;
  }
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
      // Write then rename, so a concurrent start never reads half a cache.
      const tmp = `${cachePath}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cachePath);
    } catch {
      // A read-only install simply runs without a cache.
    }
  };
  return { cli: module.exports, saveCache };
}

// `switchyard … | head` closes the pipe early; stop quietly like other CLIs instead of a stack trace.
process.stdout.on("error", (e) => {
  if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw e;
});

/**
 * Read commands a running server can answer go through the small fast-path bundle
 * (local-runner/cli/fast.ts): one HTTP request, no commander, no app. It returns null for
 * anything else, and the full CLI below runs as if it had not been tried.
 */
async function runFastPath(argv) {
  const fastPath = fileURLToPath(new URL("dist/switchyard-fast.cjs", root));
  if (!isFresh(fastPath, "dist/switchyard-fast.inputs.json")) return null;
  try {
    return await createRequire(import.meta.url)(fastPath).runFast(argv);
  } catch {
    return null;
  }
}

const fastCode = await runFastPath(process.argv.slice(2));
if (fastCode !== null) {
  process.exitCode = fastCode;
} else if (isFresh()) {
  const { cli, saveCache } = loadBundle();
  process.exitCode = await cli.runCli(process.argv.slice(2));
  await saveCache();
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const cli = await import("../local-runner/cli/main.ts");
  process.exitCode = await cli.runCli(process.argv.slice(2));
}
