import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, sourceFiles, specifiers } from "./sources.ts";

/**
 * functions/, schema/ and crons/ must run on Deno and edge runtimes, so Node built-ins reach
 * them only through ctx.host. This scans their sources for any import of a built-in.
 */

const PORTABLE_DIRS = ["functions", "schema", "crons"];
const BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith("_")));

function isBuiltin(spec: string): boolean {
  return spec.startsWith("node:") || BUILTINS.has(spec) || BUILTINS.has(spec.split("/")[0]!);
}

describe("portable code imports no Node built-ins", () => {
  it("recognises every import form, so the scan below cannot pass vacuously", () => {
    const code = [
      `import { readFileSync } from "node:fs";`,
      `import type { X } from 'path';`,
      `import "child_process";`,
      `import * as os from "os";`,
      `export { a } from "fs/promises";`,
      `const m = await import("node:crypto");`,
      `const cp = require("child_process");`,
      `import { z } from "@hono/zod-openapi";`,
      `import cron from "node-cron";`,
      `// import "node:http";`,
    ].join("\n");
    expect(specifiers(code).filter(isBuiltin).sort()).toEqual(["child_process", "child_process", "fs/promises", "node:crypto", "node:fs", "os", "path"]);
  });

  it("finds none under functions/, schema/ or crons/", () => {
    const offenders: string[] = [];
    let scanned = 0;
    for (const dir of PORTABLE_DIRS) {
      for (const file of sourceFiles(join(ROOT, dir))) {
        scanned++;
        for (const spec of specifiers(readFileSync(file, "utf8"))) {
          if (isBuiltin(spec)) offenders.push(`${relative(ROOT, file)} imports '${spec}'`);
        }
      }
    }
    expect(scanned).toBeGreaterThan(20);
    expect(offenders).toEqual([]);
  });
});
