import { CRONS } from "../../crons/index.ts";
import { resolveHome } from "../home.ts";
import { openLocalServices, stderrLogger } from "../services.ts";
import { startUp } from "../up.ts";
import { flag, int, list, str, UsageError, type CommandSpec } from "./spec.ts";

/** Parses repeatable `--cron NAME=EXPRESSION` overrides. */
function parseCronOverrides(values: string[]) {
  const schedules = Object.entries(CRONS).map(([name, c]) => ({ name, expression: c.schedule }));
  for (const v of values) {
    const eq = v.indexOf("=");
    const name = v.slice(0, eq);
    if (eq < 1 || !CRONS[name]) throw new UsageError(`--cron expects NAME=EXPRESSION with a known NAME, got '${v}'`);
    schedules.find((s) => s.name === name)!.expression = v.slice(eq + 1);
  }
  return schedules;
}

/** Commands that do local work rather than one API call. */
export const LOCAL_COMMANDS: CommandSpec[] = [
  {
    name: "up",
    summary: "Migrate, serve the API on 127.0.0.1:8787 and run the crons",
    options: {
      port: { type: "string", value: "PORT", description: "Port to listen on (default 8787; 0 picks a free one)" },
      host: { type: "string", value: "ADDR", description: "Address to bind (default 127.0.0.1)" },
      cron: { type: "string", multiple: true, value: "NAME=EXPR", description: "Override a cron schedule (node-cron syntax)" },
      "no-cron": { type: "boolean", description: "Serve only; schedule no crons" },
    },
    examples: ["switchyard up", "switchyard up --port 9000 --cron heartbeat-sweep='*/30 * * * * *'"],
    local: async (a, g) => {
      const port = int(a, "port", { min: 0 }) ?? 8787;
      const hostname = str(a, "host") ?? "127.0.0.1";
      const schedules = flag(a, "no-cron") ? [] : parseCronOverrides(list(a, "cron"));
      const services = await openLocalServices({ home: resolveHome(process.env, { home: g.home }), log: stderrLogger });
      const running = await startUp(services, { port, hostname, schedules });
      const lines = [
        `switchyard is up`,
        `  api:        ${running.url}/v1`,
        `  docs:       ${running.url}/docs  (OpenAPI: ${running.url}/v1/openapi.json)`,
        `  health:     ${running.url}/healthz`,
        `  database:   ${services.home.dbUrl}`,
        `  owner token: ${services.home.ownerTokenFile}`,
        `  crons:      ${schedules.map((s) => `${s.name} (${s.expression})`).join(", ") || "none"}`,
        ...(running.patrolWarning ? [`  warning:    ${running.patrolWarning}`] : []),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          process.stdout.write(`received ${signal}, shutting down\n`);
          running.stop().then(resolve, (e) => {
            process.stderr.write(`error during shutdown: ${(e as Error).message}\n`);
            resolve();
          });
        };
        process.once("SIGINT", () => shutdown("SIGINT"));
        process.once("SIGTERM", () => shutdown("SIGTERM"));
      });
      return 0;
    },
  },
];
