import type { Server as HttpServer } from "node:http";
import { serve, type ServerType } from "@hono/node-server";
import { createApp } from "../functions/app.ts";
import { makeCtx } from "../functions/lib/ctx.ts";
import { CRONS } from "../crons/index.ts";
import { startScheduler, type Schedule, type Scheduler } from "../crons/scheduler.ts";
import { patrolLiveness } from "../functions/patrol/status.ts";
import { applyServerLimits, SERVER_LIMITS, serverOptions, type ServerLimits } from "./server-limits.ts";
import type { LocalServices } from "./services.ts";

/** A running `switchyard up`: the HTTP server and the cron scheduler. */
export interface Running {
  url: string;
  scheduler: Scheduler;
  /**
   * Why the patrol counts as not running at start-up (stale or missing heartbeat, or no patrol
   * cron scheduled), or null when it is healthy or about to run on this process's schedule.
   */
  patrolWarning: string | null;
  stop(): Promise<void>;
}

/**
 * The patrol warning `up` prints: a stale or missing heartbeat, and whether this process will
 * run the patrol itself (its cron scheduled) or relies on another `up` that evidently is not.
 */
async function patrolWarningAt(services: LocalServices, schedules: Schedule[] | undefined): Promise<string | null> {
  const live = await patrolLiveness(makeCtx(services, { kind: "daemon", tokenId: "up" }));
  if (live.running) return null;
  const scheduled = schedules === undefined ? "patrol" in CRONS : schedules.some((s) => s.name === "patrol");
  return scheduled
    ? `${live.problem}; this process schedules the patrol cron, so it runs within a minute`
    : `${live.problem}, and this process does not schedule the patrol cron. ${live.hint}`;
}

/** Serves the API on host:port and schedules the crons; resolves once listening. */
export async function startUp(
  services: LocalServices,
  opts: { port: number; hostname: string; schedules?: Schedule[]; owner?: string; limits?: Partial<ServerLimits> },
): Promise<Running> {
  const app = createApp(services);
  const limits = { ...SERVER_LIMITS, ...opts.limits };
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: opts.port, hostname: opts.hostname, serverOptions: serverOptions(limits) }, () => resolve(s));
    s.once("error", reject);
  });
  applyServerLimits(server as HttpServer, limits);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  const owner = opts.owner ?? `up:${services.home.hostName}:${process.pid}`;
  const scheduler = startScheduler(() => makeCtx(services, { kind: "daemon", tokenId: owner }), { owner, schedules: opts.schedules });
  const host = opts.hostname.includes(":") ? `[${opts.hostname}]` : opts.hostname;
  const url = `http://${host}:${port}`;
  // Agents this server spawns reach it over HTTP: their skills' curl forms and the CLI read
  // SWITCHYARD_URL (an explicitly configured one wins).
  for (const launch of Object.values(services.agents ?? {})) if (launch) launch.env = { SWITCHYARD_URL: url, ...launch.env };
  const patrolWarning = await patrolWarningAt(services, opts.schedules);
  return {
    url,
    scheduler,
    patrolWarning,
    async stop() {
      await scheduler.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      services.database.close();
    },
  };
}
