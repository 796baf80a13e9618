#!/usr/bin/env node
// Runs the clock-sensitive suites (package.json "clockSensitiveTests") with the clock moved a
// year ahead by Debian's faketime, as CI does, to prove no test depends on today's date.
// Extra arguments go to faketime's offset: `npm run test:clock -- -30d`.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const suites = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).clockSensitiveTests;
const offset = process.argv[2] ?? "+365d";
const r = spawnSync("faketime", ["-f", offset, "npx", "vitest", "run", ...suites], { stdio: "inherit" });
if (r.error) {
  console.error(`error: cannot run faketime (${r.error.message})\nhint: install Debian's faketime package (apt-get install faketime)`);
  process.exit(1);
}
process.exit(r.status ?? 1);
