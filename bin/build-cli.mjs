#!/usr/bin/env node
// Bundles the CLI into dist/ so `switchyard` starts without transpiling TypeScript on every run.
// Run by npm's "prepare" (npm install / npm ci). A failed build only warns: bin/switchyard.mjs
// then keeps running the TypeScript sources through tsx, which is slower but always correct.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
// `--outdir NAME` builds into another folder at the top of the checkout (tests build their own
// bundle there, leaving dist/ to the running CLI); it must sit one level down like dist/, since
// sources find their files relative to their own location.
const outIndex = process.argv.indexOf("--outdir");
const outDir = outIndex > 0 ? process.argv[outIndex + 1] : "dist";
if (!/^[A-Za-z0-9._-]+$/.test(outDir ?? "")) {
  process.stderr.write(`--outdir must be one folder name at the top of the checkout, got '${outDir}'\n`);
  process.exit(2);
}

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
  // Start from an empty dist/ so no code cache or bundle from an earlier build survives.
  rmSync(`${root}${outDir}`, { recursive: true, force: true });
  mkdirSync(`${root}${outDir}`);
  const common = {
    absWorkingDir: root,
    bundle: true,
    platform: "node",
    target: "node20",
    // CommonJS, because bin/switchyard.mjs compiles it with vm.Script to use a V8 code cache:
    // Node 20 has no compile cache for ES modules, and compiling 2 MB is a third of start-up.
    format: "cjs",
    // Bundling the dependencies too is what makes start-up fast: one file instead of hundreds of
    // module resolutions. The libsql native binding cannot be bundled and is loaded from node_modules.
    // playwright-core (7 MB, two thirds of the bundle) is only imported dynamically by the browser
    // QA harness; left in, every command would read and hash it at start-up.
    external: ["libsql", "@libsql/linux-*", "@libsql/darwin-*", "@libsql/win32-*", "playwright-core"],
    // jsonc-parser's "main" is a UMD build whose factory calls require("./impl/format") at run
    // time, which esbuild cannot see, so the bundle would lack those files and `hooks` would
    // fail. Its ES module build has plain imports that bundle. (tests/bin/build-cli.test.ts)
    alias: { "jsonc-parser": "jsonc-parser/lib/esm/main.js" },
    // An external import() would go through vm's experimental dynamic-import hook (and print a
    // warning); as require() it loads like every other external.
    supported: { "dynamic-import": false },
    // Sources locate files relative to import.meta.url (the migrations folder); give CommonJS the same URL.
    define: { "import.meta.url": "__switchyardModuleUrl" },
    banner: { js: 'var __switchyardModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
    metafile: true,
    logLevel: "warning",
  };
  const result = await esbuild.build({ ...common, entryPoints: ["local-runner/cli/main.ts"], outfile: `${outDir}/switchyard.cjs` });
  // The fast path for read commands (local-runner/cli/fast.ts), bundled apart so a read answered
  // by a running server loads a few small modules instead of the CLI above.
  const fast = await esbuild.build({ ...common, entryPoints: ["local-runner/cli/fast.ts"], outfile: `${outDir}/switchyard-fast.cjs` });
  // The in-process fast path (local-runner/cli/fast-local.ts), tried when no server answered:
  // the read's domain functions, drizzle, zod and the libsql binding, without Hono. Three
  // modules are swapped for lighter ones that behave the same for what it does: the route
  // definitions get zod with a no-op .openapi() (zod-openapi-lite.ts) instead of
  // @hono/zod-openapi, which would load Hono and the OpenAPI generator for documentation only;
  // @libsql/client, which it never opens, loses its network transports (libsql-client-lite.ts);
  // and zod keeps its English messages only (zod-locales-en.ts).
  const swaps = [
    { filter: /^@libsql\/client$/, to: "local-runner/cli/libsql-client-lite.ts" },
    { filter: /^\.\.\/locales\/index\.js$/, importer: /node_modules\/zod\/v4\/(classic|core)\//, to: "local-runner/cli/zod-locales-en.ts" },
  ];
  const local = await esbuild.build({
    ...common,
    entryPoints: ["local-runner/cli/fast-local.ts"],
    outfile: `${outDir}/switchyard-fast-local.cjs`,
    alias: { ...common.alias, "@hono/zod-openapi": "./local-runner/cli/zod-openapi-lite.ts" },
    plugins: [
      {
        name: "fast-local-swaps",
        setup(build) {
          for (const swap of swaps) {
            build.onResolve({ filter: swap.filter }, (args) =>
              !swap.importer || swap.importer.test(args.importer) ? { path: `${root}${swap.to}` } : undefined,
            );
          }
        },
      },
    ],
  });
  // bin/switchyard.mjs uses a bundle only while it is newer than every one of its inputs.
  const sources = (r) => Object.keys(r.metafile.inputs).filter((p) => !p.includes("node_modules/"));
  const inputs = sources(result);
  writeFileSync(`${root}${outDir}/switchyard-fast.inputs.json`, `${JSON.stringify(sources(fast), null, 1)}\n`);
  writeFileSync(`${root}${outDir}/switchyard-fast-local.inputs.json`, `${JSON.stringify(sources(local), null, 1)}\n`);
  // `switchyard --help` lists every command; bin/switchyard.cjs prints this copy instead of
  // loading the whole bundle to build the same text (the bundle's own mainHelp writes it).
  const { mainHelp } = createRequire(import.meta.url)(`${root}${outDir}/switchyard.cjs`);
  writeFileSync(`${root}${outDir}/switchyard-help.txt`, `${mainHelp()}\n`);
  // The text comes from the modules the CLI's entry imports statically (a few dozen; the app and
  // the rest load on demand), so only those need checking for it to be current.
  const staticGraph = new Set(["local-runner/cli/main.ts"]);
  for (const file of staticGraph) {
    for (const i of result.metafile.inputs[file]?.imports ?? []) if (i.kind === "import-statement" && !i.external) staticGraph.add(i.path);
  }
  const helpInputs = [...staticGraph].filter((p) => !p.includes("node_modules/"));
  writeFileSync(`${root}${outDir}/switchyard-help.inputs.json`, `${JSON.stringify(helpInputs, null, 1)}\n`);
  // Written last: bin/switchyard.cjs uses the bundle and the files above only once this exists
  // (a build cut short leaves none).
  writeFileSync(`${root}${outDir}/switchyard.inputs.json`, `${JSON.stringify(inputs, null, 1)}\n`);
  process.stdout.write(`built ${outDir}/switchyard.cjs from ${inputs.length} source files\n`);
  if (outDir !== "dist") process.exit(0);
  // Write the V8 code cache now (bin/switchyard.mjs does so on a run that finds none), so no
  // user's first command pays for it. Best effort: without it the first run writes it.
  spawnSync(process.execPath, [`${root}bin/switchyard.mjs`, "--version"], { stdio: "ignore", env: { ...process.env, SWITCHYARD_NO_BUNDLE: "" } });
} catch (e) {
  process.stderr.write(`warning: could not bundle the CLI (${e.message}); bin/switchyard.mjs will run the sources through tsx\n`);
}
