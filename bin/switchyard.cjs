#!/usr/bin/env node
// The `switchyard` command (package.json "bin", the shims agents get). CommonJS on purpose: a
// read command that a running server answers is done before an ES module could even start, since
// Node's ES module loader alone costs a tenth of a bare `node` start. It tries the fast path
// (dist/switchyard-fast.cjs, built from local-runner/cli/fast.ts), then without a server the
// in-process one (dist/switchyard-fast-local.cjs, from local-runner/cli/fast-local.ts), and
// otherwise hands over to bin/switchyard.mjs, which runs the full CLI as it always did.
"use strict";
const { readFileSync, renameSync, statSync, unlinkSync, writeFileSync } = require("node:fs");
const { createRequire, Module } = require("node:module");
const { dirname, join } = require("node:path");

const root = join(__dirname, "..");
const TRIED = Symbol.for("switchyard.fastPathTried");

/**
 * True when dist/ holds the built file `name` and no source file it was built from (listed in
 * `<name without its extension>.inputs.json`), package.json or installed dependency is newer
 * than it. SWITCHYARD_NO_BUNDLE=1 makes it false (run the TypeScript sources).
 */
function isFresh(name) {
  if (process.env.SWITCHYARD_NO_BUNDLE === "1") return false;
  try {
    const builtAt = statSync(join(root, "dist", name)).mtimeMs;
    const inputs = JSON.parse(readFileSync(join(root, "dist", name.replace(/\.[a-z]+$/, ".inputs.json")), "utf8"));
    // npm rewrites node_modules/.package-lock.json on every install, so a dependency change shows there.
    for (const p of [...inputs, "package.json", "node_modules/.package-lock.json"]) {
      if (statSync(join(root, p)).mtimeMs > builtAt) return false;
    }
    return true;
  } catch {
    // No bundle, no input list, or an input that no longer exists: the bundle cannot be trusted.
    return false;
  }
}

/** First bytes of a code cache file written by writeCodeCache (the format's version is in it). */
const CACHE_MAGIC = "switchyard-v8cache-2";

/**
 * The checksum of a cache's data: CRC-32, which catches damaged bytes as surely as a digest
 * would here, and its module loads in about a third of the time node:crypto takes (SHA-256 with
 * crypto's load was about 7 ms of an in-process read). Node before 20.15 has no zlib.crc32.
 */
function checksumOf(data) {
  const zlib = require("node:zlib");
  if (typeof zlib.crc32 === "function") return `crc32:${zlib.crc32(data).toString(16)}`;
  return `sha256:${require("node:crypto").createHash("sha256").update(data).digest("hex")}`;
}

/** What a code cache is bound to: the bundle file as it was when it was read (size, mtime, inode). */
function bundleIdentity(bundleStat) {
  return `${bundleStat.size}:${bundleStat.mtimeMs}:${bundleStat.ino}`;
}

/**
 * The V8 code cache kept at `cachePath` for the bundle whose stat (taken before reading it) is
 * `bundleStat`, or undefined. V8 checks only the source's length and its own version before it
 * trusts a cache: a cache made from another build of the same length runs that build's code,
 * and damaged bytes abort the process (a V8 fatal error, SIGTRAP) on every start, before the
 * full CLI could run. So each file starts with a line naming the bundle it was made from and a
 * checksum of the data, and a file whose line does not match is no cache (the run writes a new one).
 */
function readCodeCache(cachePath, bundleStat) {
  let file;
  try {
    file = readFileSync(cachePath);
  } catch {
    return undefined;
  }
  const eol = file.indexOf(10);
  if (eol < 0 || eol > 200) return undefined;
  const [magic, identity, digest] = file.subarray(0, eol).toString("latin1").split(" ");
  if (magic !== CACHE_MAGIC || identity !== bundleIdentity(bundleStat)) return undefined;
  const data = file.subarray(eol + 1);
  return checksumOf(data) === digest ? data : undefined;
}

/** Stores `data` (script.createCachedData()) for readCodeCache: best effort, written then renamed. */
function writeCodeCache(cachePath, data, bundleStat) {
  const digest = checksumOf(data);
  // Write then rename, so a concurrent start never reads half a cache.
  const tmp = `${cachePath}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${CACHE_MAGIC} ${bundleIdentity(bundleStat)} ${digest}\n`, "latin1"), data]));
    renameSync(tmp, cachePath);
  } catch {
    // A read-only install (or a full disk) simply runs without a cache.
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing was written.
    }
  }
}

/**
 * Loads the CommonJS bundle at `path` through vm.Script with the V8 code cache kept beside it
 * (`<path>.v8cache`, see readCodeCache), which skips most of its compile: Node 20 has no compile
 * cache of its own, and compiling zod and drizzle is most of an in-process read. Returns the
 * exports and a function that stores a fresh cache when there was none or V8 rejected it
 * (another Node version); call it after the command ran, so the cache covers the functions that ran too.
 */
function loadCached(path) {
  const cachePath = `${path}.v8cache`;
  // Taken before the read: a bundle replaced in between gets a cache that matches neither.
  const bundleStat = statSync(path);
  const cachedData = readCodeCache(cachePath, bundleStat);
  const vm = require("node:vm");
  const script = new vm.Script(Module.wrap(readFileSync(path, "utf8")), { filename: path, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(path), module, path, dirname(path));
  const saveCache = () => {
    if (cachedData && !script.cachedDataRejected) return;
    writeCodeCache(cachePath, script.createCachedData(), bundleStat);
  };
  return { exports: module.exports, saveCache };
}

/**
 * Read commands go through the small fast-path bundles before the full CLI: a running server
 * answers them over one HTTP request (dist/switchyard-fast.cjs); without one, the home's
 * database answers them in-process (dist/switchyard-fast-local.cjs: the domain functions and
 * the libsql binding, no commander, no app). `--help` prints the text the build saved. Resolves
 * to the exit code, or null for anything else (the full CLI then runs as if the fast paths had
 * not been tried). Tried once per process.
 */
async function runFastPath(argv) {
  if (globalThis[TRIED]) return null;
  globalThis[TRIED] = true;
  // The top-level help is a fixed text the build wrote from the bundle (bin/build-cli.mjs).
  if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h") && isFresh("switchyard-help.txt")) {
    try {
      process.stdout.write(readFileSync(join(root, "dist", "switchyard-help.txt"), "utf8"));
      return 0;
    } catch {
      return null;
    }
  }
  if (!isFresh("switchyard-fast.cjs")) return null;
  try {
    const code = await require(join(root, "dist", "switchyard-fast.cjs")).runFast(argv);
    if (code !== null) return code;
  } catch {
    return null;
  }
  if (!isFresh("switchyard-fast-local.cjs")) return null;
  const restore = quickLibcProbe();
  try {
    const { exports, saveCache } = loadCached(join(root, "dist", "switchyard-fast-local.cjs"));
    const code = await exports.runLocal(argv);
    if (code !== null) saveCache();
    return code;
  } catch {
    return null;
  } finally {
    restore();
  }
}

/**
 * Loading the libsql binding asks `process.report.getReport()` (through @neon-rs/load) only to
 * tell glibc from musl, and building that whole diagnostic report is about 5 ms of an in-process
 * read. detect-libc, libsql's own dependency, answers the same question from the system's files.
 * Until the returned function runs, the first getReport call is answered from detect-libc when
 * it knows the family, and by the real report otherwise; any later call gets the real report.
 */
function quickLibcProbe() {
  const report = process.report;
  if (process.platform !== "linux" || !report || typeof report.getReport !== "function") return () => {};
  const real = report.getReport;
  report.getReport = function getReport(...args) {
    report.getReport = real;
    let family = null;
    try {
      family = createRequire(require.resolve("libsql"))("detect-libc").familySync();
    } catch {
      // Not resolvable from libsql here: the real report answers.
    }
    if (family === "glibc") return { header: { glibcVersionRuntime: "" } };
    if (family === "musl") return { header: {} };
    return real.apply(this, args);
  };
  return () => {
    if (report.getReport !== real) report.getReport = real;
  };
}

/** `switchyard … | head` closes the pipe early; stop quietly like other CLIs instead of a stack trace. */
function quietOnClosedPipe() {
  if (process.stdout.listenerCount("error")) return;
  process.stdout.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
}

module.exports = { isFresh, runFastPath, quietOnClosedPipe, loadCached, readCodeCache, writeCodeCache, quickLibcProbe };

if (require.main === module) {
  quietOnClosedPipe();
  runFastPath(process.argv.slice(2)).then((code) => {
    if (code !== null) process.exitCode = code;
    else return import("./switchyard.mjs");
  });
}
