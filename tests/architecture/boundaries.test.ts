import { describe, expect, it } from "vitest";
import { importGraph } from "./sources.ts";

/**
 * The command queue is a layer under the groups: functions/queue/ imports only functions/lib/,
 * schema/ and itself (types included), so any group can queue and run commands without the
 * queue knowing it. The executors plug in at the composition root (functions/executors.ts).
 * functions/lib/ is below every group and imports none.
 */

const graph = importGraph(["functions", "schema", "crons", "local-runner"]);

/** `file -> target` for every import from a file under `from` that leaves the `allowed` folders. */
function outside(from: string, allowed: readonly string[]): string[] {
  return [...graph]
    .filter(([file]) => file.startsWith(from))
    .flatMap(([file, targets]) => targets.filter((t) => !allowed.some((a) => t.startsWith(a))).map((t) => `${file} -> ${t}`));
}

describe("layer boundaries", () => {
  it("functions/queue/ imports only functions/lib/, schema/ and itself", () => {
    expect([...graph.keys()].filter((f) => f.startsWith("functions/queue/")).length).toBeGreaterThan(5);
    expect(outside("functions/queue/", ["functions/queue/", "functions/lib/", "schema/"])).toEqual([]);
  });

  it("functions/lib/ imports no group", () => {
    expect(outside("functions/lib/", ["functions/lib/", "schema/"])).toEqual([]);
  });

  it("the check sees an import that leaves the layer", () => {
    // The groups import the queue, so the same check run on them must report it.
    expect(outside("functions/actuate/", ["functions/actuate/", "functions/lib/", "schema/"])).toContain(
      "functions/actuate/nudge.ts -> functions/queue/store.ts",
    );
  });
});
