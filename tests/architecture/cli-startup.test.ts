import { build, type Metafile } from "esbuild";
import { describe, expect, it } from "vitest";
import { ROOT } from "./sources.ts";

/**
 * What `switchyard <command>` evaluates before it knows which command runs: the modules the CLI's
 * entry reaches through static imports. The app, its schemas and the database driver are most of
 * the start-up cost, so they load on demand (a dynamic import where a command needs them), and
 * `--help` or a local command never pays for them. esbuild resolves the graph the way the bundle
 * in dist/ is built, so a re-export or an index file cannot hide an import.
 */

async function staticGraph(entry: string): Promise<{ reached: Map<string, string | null>; inputs: Metafile["inputs"] }> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    bundle: true,
    write: false,
    outdir: "/nonexistent",
    platform: "node",
    format: "esm",
    splitting: true,
    external: ["libsql", "@libsql/*"],
    metafile: true,
    logLevel: "silent",
  });
  const inputs = result.metafile.inputs;
  const reached = new Map<string, string | null>([[entry, null]]);
  const queue = [entry];
  while (queue.length) {
    const file = queue.shift()!;
    for (const i of inputs[file]?.imports ?? []) {
      if (i.kind !== "import-statement" || i.external || reached.has(i.path)) continue;
      reached.set(i.path, file);
      queue.push(i.path);
    }
  }
  return { reached, inputs };
}

/** The chain of static imports from the entry to `file`, to say where a heavy import came in. */
function chain(reached: Map<string, string | null>, file: string): string {
  const path: string[] = [];
  for (let f: string | null | undefined = file; f; f = reached.get(f)) path.unshift(f);
  return path.join(" -> ");
}

const HEAVY = [
  /^functions\/app\.ts$/,
  /^functions\/lib\/route\.ts$/,
  /node_modules\/zod\//,
  /node_modules\/drizzle-orm\//,
  /node_modules\/@libsql\//,
  /node_modules\/hono\//,
  /node_modules\/playwright-core\//,
  /node_modules\/pngjs\//,
];

describe("CLI start-up", () => {
  it("the CLI entry reaches no app, schema, ORM or driver module through static imports", async () => {
    const { reached, inputs } = await staticGraph("local-runner/cli/main.ts");
    // The same graph through dynamic imports does reach them, so the check looks at the right files.
    expect(Object.keys(inputs).some((f) => /^functions\/app\.ts$/.test(f))).toBe(true);
    expect(reached.has("local-runner/cli/commands.ts")).toBe(true);
    const heavy = [...reached.keys()].filter((f) => HEAVY.some((re) => re.test(f)));
    expect(heavy.map((f) => chain(reached, f))).toEqual([]);
  }, 60_000);

  it("a call over HTTP (--url) loads no app, schema, ORM or driver either", async () => {
    const { reached } = await staticGraph("local-runner/cli/transport.ts");
    expect([...reached.keys()].filter((f) => HEAVY.some((re) => re.test(f))).map((f) => chain(reached, f))).toEqual([]);
  }, 60_000);

  it("the fast path for read commands reaches no commander, app, schema, ORM or driver by any import, static or dynamic", async () => {
    // It is bundled on its own (dist/switchyard-fast.cjs), where a dynamic import is bundled too:
    // every input counts, not only the static graph.
    const { inputs } = await staticGraph("local-runner/cli/fast.ts");
    const files = Object.keys(inputs);
    expect(files).toContain("local-runner/cli/commands.ts");
    const heavy = [
      ...HEAVY,
      /node_modules\/commander\//,
      /^local-runner\/services\.ts$/,
      /^local-runner\/cli\/main\.ts$/,
      /^local-runner\/cli\/in-process-transport\.ts$/,
    ];
    expect(files.filter((f) => heavy.some((re) => re.test(f)))).toEqual([]);
  }, 60_000);

  it("the check sees a static import of the app's shell", async () => {
    const { reached } = await staticGraph("local-runner/cli/in-process-transport.ts");
    expect(reached.has("functions/app-shell.ts")).toBe(true);
  }, 60_000);

  it("an in-process call loads route groups on demand, not the whole app", async () => {
    const { reached } = await staticGraph("local-runner/cli/in-process-transport.ts");
    const groups = [...reached.keys()].filter((f) => f === "functions/app.ts" || /^functions\/[^/]+\/index\.ts$/.test(f));
    expect(groups.map((f) => chain(reached, f))).toEqual([]);
  }, 60_000);
});
