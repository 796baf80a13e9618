// `deno task serve`: serves the API with Deno.serve and schedules the crons with Deno.cron,
// configured from the environment (docs/deno.md). Stops cleanly on SIGINT/SIGTERM.
import { denoConfigFromEnv, startDeno } from "./serve.ts";

let server: Awaited<ReturnType<typeof startDeno>>;
try {
  server = await startDeno(denoConfigFromEnv(Deno.env.toObject()));
} catch (e) {
  console.error(`switchyard (deno): ${(e as Error).message}`);
  Deno.exit(1);
}
console.error(`switchyard (deno) listening on ${server.url}; crons: ${server.crons.map((c) => c.name).join(", ") || "none"}`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await server.stop();
    Deno.exit(0);
  });
}
