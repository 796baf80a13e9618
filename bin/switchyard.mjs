#!/usr/bin/env node
// Entry point: TypeScript sources run through tsx's loader, so no build step is needed.
import { register } from "tsx/esm/api";

register();
const { runCli } = await import("../local-runner/cli/main.ts");
process.exitCode = await runCli(process.argv.slice(2));
