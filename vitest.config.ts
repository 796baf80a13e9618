import { defineConfig } from "vitest/config";

/** Suites that run only on demand (`npm run test:chaos`, vitest.chaos.config.ts); .ci/run runs them too. */
export const CHAOS_TESTS = "tests/chaos/**/*.test.ts";

/** What every vitest run of this project shares. */
export const shared = {
  globalSetup: ["tests/helpers/global-setup.ts"],
  pool: "forks" as const,
  testTimeout: 60_000,
  hookTimeout: 60_000,
  // Real tmux, agent CLIs and multi-process runs share two cores; keep file parallelism modest.
  maxWorkers: 2,
};

export default defineConfig({
  test: {
    ...shared,
    include: ["tests/**/*.test.ts"],
    // The chaos suite takes minutes of two busy cores; `npm test` stays quick without it.
    exclude: ["**/node_modules/**", CHAOS_TESTS],
  },
});
