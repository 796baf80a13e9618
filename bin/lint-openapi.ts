// Dumps the OpenAPI document (createApp over a temporary database; no server) to
// test-results/openapi.json and lints it with Redocly (redocly.yaml). Exits with the linter's status.
// Usage: npm run lint:openapi
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createApp } from "../functions/app.ts";
import { resolveHome } from "../local-runner/home.ts";
import { openLocalServices } from "../local-runner/services.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "test-results", "openapi.json");

const dir = mkdtempSync(join(tmpdir(), "switchyard-openapi-"));
try {
  const services = await openLocalServices({ home: resolveHome({}, { home: dir }) });
  try {
    // The default address of `switchyard up`, so `servers` holds what a user would see.
    const res = await createApp(services).request("http://127.0.0.1:8787/v1/openapi.json");
    if (res.status !== 200) throw new Error(`GET /v1/openapi.json answered ${res.status}: ${await res.text()}`);
    mkdirSync(join(root, "test-results"), { recursive: true });
    writeFileSync(out, `${JSON.stringify(await res.json(), null, 2)}\n`);
  } finally {
    services.database.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const lint = spawnSync(join(root, "node_modules", ".bin", "redocly"), ["lint", "--config", join(root, "redocly.yaml"), "test-results/openapi.json"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
});
if (lint.error) throw lint.error;
process.exitCode = lint.status ?? 1;
