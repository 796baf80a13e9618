import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, sourceFiles } from "./sources.ts";

/**
 * decodeCursor checks only how many keys a cursor has; keysetAfter checks each against its
 * column. A list that compares the keys itself must use decodeTypedCursor (or decodeIntCursor),
 * or a forged key of another type reaches SQLite: a NaN that fails the query, or a text compared
 * with a number that silently restarts or ends the walk.
 */
describe("cursor keys", () => {
  it("every decodeCursor result goes through keysetAfter", () => {
    const loose: string[] = [];
    for (const file of sourceFiles(join(ROOT, "functions"))) {
      const rel = relative(ROOT, file);
      if (rel === "functions/lib/paging.ts") continue;
      const code = readFileSync(file, "utf8");
      for (const m of code.matchAll(/decodeCursor\(/g)) {
        const before = code.slice(Math.max(0, m.index - 200), m.index);
        // Inline: keysetAfter([columns], decodeCursor(...)).
        if (/keysetAfter\(\s*\[[^\]]*\]\s*,\s*$/.test(before)) continue;
        // Named: const after = decodeCursor(...), handed to keysetAfter after it in the same
        // function (before the next top-level declaration), and never indexed by hand.
        const named = /const (\w+) = $/.exec(before);
        if (named) {
          const rest = code.slice(m.index);
          const end = rest.search(/\n(export |async function |function |const [A-Z])/);
          const scope = end === -1 ? rest : rest.slice(0, end);
          const handed = new RegExp(`keysetAfter\\(\\s*\\[[^\\]]*\\]\\s*,\\s*${named[1]}\\b`).test(scope);
          const indexed = new RegExp(`\\b${named[1]}(\\?\\.)?\\[`).test(scope);
          if (handed && !indexed) continue;
        }
        loose.push(`${rel}:${code.slice(0, m.index).split("\n").length}`);
      }
    }
    expect(loose, "use decodeTypedCursor for a cursor whose keys are compared without keysetAfter").toEqual([]);
  });
});
