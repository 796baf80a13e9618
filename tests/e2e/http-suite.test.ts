// The shared HTTP suite (tests/helpers/http-suite.ts) against `switchyard up`'s Node server on a
// real socket; tests/deno/http.deno.ts runs the same cases against Deno.serve.
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, it } from "vitest";
import { startUp, type Running } from "../../local-runner/up.ts";
import { HTTP_CASES, type HttpTarget, RATE_LIMIT } from "../helpers/http-suite.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

const MAX_BODY = 64 * 1024;
let env: TestEnv;
let up: Running;
let target: HttpTarget;

beforeAll(async () => {
  env = await makeTestEnv();
  env.services.rateLimit = RATE_LIMIT;
  env.services.maxBodyBytes = MAX_BODY;
  up = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [] });
  target = { url: up.url, ownerToken: env.owner, maxBodyBytes: MAX_BODY };
});
afterAll(async () => {
  // stop() closes the database too.
  await up?.stop();
  rmSync(env.dir, { recursive: true, force: true });
});

describe("the shared HTTP suite against the Node server", () => {
  for (const c of HTTP_CASES) it(c.name, () => c.run(target));
});
