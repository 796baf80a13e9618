import { defineConfig } from "vitest/config";
import { CHAOS_TESTS, shared } from "./vitest.config.ts";

/** The chaos suite alone (`npm run test:chaos`): many real processes killed at random, minutes long. */
export default defineConfig({ test: { ...shared, include: [CHAOS_TESTS] } });
