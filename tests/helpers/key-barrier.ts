import { createApp } from "../../functions/app.ts";
import type { TestEnv } from "./services.ts";

/**
 * The env's app with its Idempotency-Key test hook holding requests at the batch that stores a
 * key until `count` of them got there, so duplicates meet at the commit instead of one seeing
 * the other's key first. `arrived()` says how many reached the batch.
 */
export function appMeetingAtTheBatch(env: TestEnv, count = 2) {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => {
    release = r;
  });
  const app = createApp({
    ...env.services,
    hooks: {
      beforeKeyCommit: async () => {
        if (++arrived === count) release();
        await all;
      },
    },
  });
  return { app, arrived: () => arrived };
}
