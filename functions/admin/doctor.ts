import { z } from "@hono/zod-openapi";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { health } from "../health/index.ts";
import { patrolLiveness } from "../patrol/status.ts";

const Tool = z.object({ available: z.boolean(), version: z.string().nullable() });

export const DoctorResult = z
  .object({
    ok: z.boolean(),
    host: z.string().nullable(),
    local_runner: z.boolean(),
    platform: z.string().nullable(),
    tmux: Tool,
    lsof: Tool,
    agents: z.object({
      codex: z.object({ command: z.array(z.string()).nullable(), found: z.boolean() }),
      claude: z.object({ command: z.array(z.string()).nullable(), found: z.boolean() }),
    }),
    database: z.enum(["ok", "error"]),
    patrol: z
      .object({ running: z.boolean(), heartbeat_at: z.string().nullable(), heartbeat_age_seconds: z.number().int().nullable() })
      .openapi({ description: "The patrol's heartbeat (a patrol that is not running is also listed in problems)" }),
    problems: z.array(z.object({ check: z.string(), message: z.string(), hint: z.string() })),
  })
  .openapi("DoctorResult");

export const doctorRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/admin/doctor",
  tags: ["admin"],
  summary: "Local dependency health: tmux, lsof, agent CLIs, database",
  description: "What this server's host can do. Missing tmux or lsof is reported with the install hint. CLI: doctor.",
  responses: { 200: jsonResponse(DoctorResult, "Report") },
});

/** Reports what this host can and cannot do for supervision. */
export async function doctor(ctx: Ctx) {
  const problems: Array<{ check: string; message: string; hint: string }> = [];
  const db = (await health(ctx)).db;
  if (db !== "ok")
    problems.push({ check: "database", message: "the database does not answer", hint: "Run `switchyard db-doctor` and check SWITCHYARD_DB_URL." });
  const live = db === "ok" ? await patrolLiveness(ctx) : null;
  const patrol = { running: live?.running ?? false, heartbeat_at: live?.heartbeat_at ?? null, heartbeat_age_seconds: live?.heartbeat_age_seconds ?? null };
  if (live?.problem) problems.push({ check: "patrol", message: live.problem, hint: live.hint! });
  if (!ctx.host) {
    problems.push({
      check: "local_runner",
      message: "no local runner: this server cannot reach tmux, pids or transcript files",
      hint: "Run supervision commands on the agents' machine or through its runner.",
    });
    return {
      ok: false,
      host: ctx.hostName ?? null,
      local_runner: false,
      platform: null,
      tmux: { available: false, version: null },
      lsof: { available: false, version: null },
      agents: { codex: { command: null, found: false }, claude: { command: null, found: false } },
      database: db,
      patrol,
      problems,
    };
  }
  const caps = await ctx.host.capabilities();
  if (!caps.tmux.available)
    problems.push({
      check: "tmux",
      message: "tmux is not installed",
      hint: "Install it (apt-get install tmux / brew install tmux); nudges, interrupts, pane signals and spawning need it.",
    });
  if (!caps.lsof.available)
    problems.push({ check: "lsof", message: "lsof is not installed", hint: "Install it (apt-get install lsof); register --pid needs it to find transcripts." });
  const agent = async (name: "codex" | "claude") => {
    const command = ctx.agents?.[name]?.command ?? null;
    const bin = command?.[0];
    // A bare command name is resolved by PATH inside tmux; only absolute paths can be checked here.
    const found = !!bin && (!bin.startsWith("/") || (await ctx.host!.fileExists(bin)));
    if (!found)
      problems.push({
        check: name,
        message: `${name} CLI not found${bin ? ` at ${bin}` : ""}`,
        hint: `Install it, or point SWITCHYARD_${name.toUpperCase()}_BIN at it.`,
      });
    return { command, found };
  };
  const agents = { codex: await agent("codex"), claude: await agent("claude") };
  return {
    ok: problems.length === 0,
    host: ctx.hostName ?? null,
    local_runner: true,
    platform: caps.platform,
    tmux: caps.tmux,
    lsof: caps.lsof,
    agents,
    database: db,
    patrol,
    problems,
  };
}
