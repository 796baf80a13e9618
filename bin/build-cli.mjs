#!/usr/bin/env node
// Bundles the CLI into dist/ so `switchyard` starts without transpiling TypeScript on every run.
// Run by npm's "prepare" (npm install / npm ci). A failed build only warns: bin/switchyard.mjs
// then keeps running the TypeScript sources through tsx, which is slower but always correct.
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** esbuild comes with tsx (a runtime dependency), so resolve it from there rather than adding one. */
async function loadEsbuild() {
  try {
    return await import("esbuild");
  } catch {
    return createRequire(createRequire(import.meta.url).resolve("tsx/package.json"))("esbuild");
  }
}

try {
  const esbuild = await loadEsbuild();
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: ["local-runner/cli/main.ts"],
    outfile: "dist/switchyard.mjs",
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    // Bundling the dependencies too is what makes start-up fast: one file instead of hundreds of
    // module resolutions. The libsql native binding cannot be bundled and is loaded from node_modules.
    external: ["libsql", "@libsql/linux-*", "@libsql/darwin-*", "@libsql/win32-*"],
    // Bundled CommonJS dependencies call require() for Node built-ins, which ESM output lacks.
    banner: { js: 'import { createRequire as __switchyardRequire } from "node:module"; const require = __switchyardRequire(import.meta.url);' },
    metafile: true,
    logLevel: "warning",
  });
  // bin/switchyard.mjs uses the bundle only while it is newer than every one of these.
  const inputs = Object.keys(result.metafile.inputs).filter((p) => !p.includes("node_modules/"));
  writeFileSync(`${root}dist/switchyard.inputs.json`, `${JSON.stringify(inputs, null, 1)}\n`);
  process.stdout.write(`built dist/switchyard.mjs from ${inputs.length} source files\n`);
} catch (e) {
  process.stderr.write(`warning: could not bundle the CLI (${e.message}); bin/switchyard.mjs will run the sources through tsx\n`);
}
