import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ALL_COMMANDS } from "../../../local-runner/cli/main.ts";

const known = (words: string[]) => {
  const named = (n: string) => ALL_COMMANDS.some((c) => c.name === n || c.aliases?.includes(n));
  return named(words.join(" ")) || named(words[0]!);
};

/** The manager runbook and the supervise-workers skill only name commands the CLI has. */
describe("manager docs", () => {
  for (const file of ["docs/runbook-manager.md", "skills/supervise-workers/SKILL.md"]) {
    it(`${file} names only real switchyard commands`, () => {
      const text = readFileSync(new URL(`../../../${file}`, import.meta.url), "utf8");
      const uses = [...text.matchAll(/switchyard ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g)].map((m) => [m[1]!, m[2] ?? ""]);
      expect(uses.length).toBeGreaterThan(10);
      const unknown = uses.filter(([a, b]) => !known([a, b].filter(Boolean))).map((u) => u.join(" "));
      expect(unknown).toEqual([]);
    });
  }
});
