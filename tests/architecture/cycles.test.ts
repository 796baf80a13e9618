import { describe, expect, it } from "vitest";
import { importGraph } from "./sources.ts";

/**
 * No module may reach itself through its imports. Type-only imports count: a cycle of types
 * still ties the files into one unit that cannot be moved or understood apart.
 */

const DIRS = ["functions", "schema", "crons", "local-runner"];

/** One cycle per back edge found by a depth-first walk, each as `a -> b -> … -> a`. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next].join(" -> "));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

describe("import cycles", () => {
  it("finds a cycle through several files and a file importing itself, and none in a tree", () => {
    const cyclic = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts", "d.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", []],
      ["e.ts", ["e.ts"]],
    ]);
    expect(findCycles(cyclic)).toEqual(["a.ts -> b.ts -> c.ts -> a.ts", "e.ts -> e.ts"]);
    const tree = new Map([
      ["a.ts", ["b.ts", "c.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", []],
    ]);
    expect(findCycles(tree)).toEqual([]);
  });

  it("finds none among functions/, schema/, crons/ and local-runner/, type-only imports included", () => {
    const graph = importGraph(DIRS);
    expect(graph.size).toBeGreaterThan(100);
    // The scan must see real edges, type-only ones among them, or it proves nothing.
    expect(graph.get("functions/lib/env.ts")).toContain("functions/lib/ctx.ts");
    expect(findCycles(graph)).toEqual([]);
  });
});
