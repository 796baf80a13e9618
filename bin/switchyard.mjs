#!/usr/bin/env node
// Entry point. Runs the bundle that `npm install` builds into dist/ (bin/build-cli.mjs) when it
// is newer than every file it was built from; otherwise runs the TypeScript sources through tsx,
// so an edited checkout never runs stale code. SWITCHYARD_NO_BUNDLE=1 forces the sources.
import { readFileSync, statSync } from "node:fs";

const root = new URL("..", import.meta.url);
const bundle = new URL("dist/switchyard.mjs", root);

/** True when dist/ holds a bundle that no source file, package.json or installed dependency is newer than. */
function bundleIsFresh() {
  if (process.env.SWITCHYARD_NO_BUNDLE === "1") return false;
  try {
    const builtAt = statSync(bundle).mtimeMs;
    const inputs = JSON.parse(readFileSync(new URL("dist/switchyard.inputs.json", root), "utf8"));
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

let cli;
if (bundleIsFresh()) {
  cli = await import(bundle.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import("../local-runner/cli/main.ts");
}
process.exitCode = await cli.runCli(process.argv.slice(2));
