import type { Host } from "../../functions/lib/host.ts";

/**
 * A host whose only capability is answering pid probes from a fixed set of live pids, so
 * liveness checks are decided by the test rather than by the machine's process table.
 */
export function pidHost(alive: Iterable<number>): Host & { alive: Set<number> } {
  const set = new Set(alive);
  const unsupported = () => {
    throw new Error("pidHost supports only pidAlive");
  };
  return new Proxy({ alive: set, pidAlive: async (pid: number) => set.has(pid) } as Host & { alive: Set<number> }, {
    get: (target, key) => (key in target ? target[key as keyof typeof target] : unsupported),
  });
}
