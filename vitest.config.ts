import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/helpers/global-setup.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real tmux, agent CLIs and multi-process runs share two cores; keep file parallelism modest.
    maxWorkers: 2,
  },
});
