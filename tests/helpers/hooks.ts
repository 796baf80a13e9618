import { serve, type ServerType } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { runCli } from "../../local-runner/cli/main.ts";
import type { TestEnv } from "./services.ts";

/** The test env's app served on 127.0.0.1 (no crons: nothing polls behind the test's back). */
export async function serveApp(env: TestEnv): Promise<{ url: string; close(): Promise<void> }> {
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: env.app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/**
 * Runs the real `switchyard` CLI in-process with extra environment (CLAUDE_CONFIG_DIR,
 * CODEX_HOME…) for the duration of the call, and returns its exit code and output.
 */
export async function cliWithEnv(argv: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const out: string[] = [];
  const err: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((t: string | Uint8Array) => {
    out.push(String(t));
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    process.stdout.write = write;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
