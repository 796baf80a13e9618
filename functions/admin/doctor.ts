import { z } from "@hono/zod-openapi";
import { queryNumber } from "../lib/names.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { credentialVariables, signInHint } from "../actuate/agents.ts";
import { health } from "../health/index.ts";
import { patrolLiveness } from "../patrol/status.ts";
import { dispatchHeartbeats } from "../telemetry/views.ts";

const Tool = z.object({ available: z.boolean(), version: z.string().nullable() });
const Agent = z.object({
  command: z.array(z.string()).nullable(),
  found: z.boolean(),
  signed_in: z.boolean().nullable().openapi({ description: "What the CLI's own status command says; null when it could not be asked" }),
  auth: z.string().openapi({ description: "How it is signed in, or why not, or why unknown" }),
});

export const DoctorResult = z
  .object({
    ok: z.boolean(),
    host: z.string().nullable(),
    local_runner: z.boolean(),
    platform: z.string().nullable(),
    tmux: Tool,
    lsof: Tool,
    agents: z.object({ codex: Agent, claude: Agent }),
    database: z.enum(["ok", "error"]),
    patrol: z
      .object({ running: z.boolean(), heartbeat_at: z.string().nullable(), heartbeat_age_seconds: z.number().int().nullable() })
      .openapi({ description: "The patrol's heartbeat (a patrol that is not running is also listed in problems)" }),
    ports: z
      .array(z.object({ port: z.number().int(), listening: z.boolean().nullable(), switchyard: z.boolean().nullable() }))
      .openapi({ description: "The API port on 127.0.0.1: whether something listens, and whether it is a Switchyard (null: not checked)" }),
    dispatch: z
      .object({
        running: z.number().int(),
        dispatchers: z.array(
          z.object({ id: z.string(), host: z.string().nullable(), heartbeat_at: z.string().nullable(), heartbeat_age_seconds: z.number().int().nullable() }),
        ),
      })
      .openapi({ description: "Dispatchers that report running, with their heartbeat age" }),
    problems: z.array(z.object({ check: z.string(), message: z.string(), hint: z.string() })),
  })
  .openapi("DoctorResult");

export const DoctorQuery = z.object({
  port: queryNumber(z.number().int().min(1).max(65535)).optional().default(8787).openapi({ description: "The API port to check (default 8787)" }),
});

export const doctorRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "get",
    path: "/admin/doctor",
    tags: ["admin"],
    summary: "Local dependency health: tmux, lsof, agent CLIs, database, ports, patrol and dispatch heartbeats",
    description:
      "What this server's host can do: tmux, lsof, the agent CLIs (found, and signed in per `codex login status` / `claude auth status`), the database. The API port and the patrol and dispatch heartbeats are reported too. Each problem comes with a hint; ok is false when there is any. CLI: doctor (exit 1 when not ok).",
    request: { query: DoctorQuery },
    responses: { 200: jsonResponse(DoctorResult, "Report") },
  },
  { rateLimited: true, deadline: "own" },
);

type Problem = { check: string; message: string; hint: string };

/**
 * One agent CLI: found, and signed in as far as its own status command says. A CLI that is
 * not signed in is a problem only when its spawn environment brings no key or endpoint of its
 * own (a model stub, a custom provider), since the agent would stop at a login screen.
 */
export async function agentCheck(ctx: Pick<Ctx, "host" | "agents">, name: "codex" | "claude", problems: Problem[]) {
  const launch = ctx.agents?.[name];
  const command = launch?.command ?? null;
  const bin = command?.[0];
  // A bare command name is resolved by PATH inside tmux; only absolute paths can be checked here.
  const found = !!bin && !!ctx.host && (!bin.startsWith("/") || (await ctx.host.fileExists(bin)));
  if (!found) {
    problems.push({
      check: name,
      message: `${name} CLI not found${bin ? ` at ${bin}` : ""}`,
      hint: `Install it, or point SWITCHYARD_${name.toUpperCase()}_BIN at it.`,
    });
    return { command, found, signed_in: null, auth: "not checked: CLI not found" };
  }
  const status = ctx.host?.agentAuth ? await ctx.host.agentAuth(name, launch!) : { signed_in: null, detail: "this host cannot ask the CLI" };
  const creds = credentialVariables(launch?.env);
  if (status.signed_in === false && !creds.length) {
    problems.push({ check: `${name}_sign_in`, message: `${name} is not signed in on this machine`, hint: signInHint(name) });
  }
  const auth = status.signed_in === false && creds.length ? `${status.detail}; the agent environment brings ${creds.join(", ")}` : status.detail;
  return { command, found, signed_in: status.signed_in, auth };
}

/** A dispatcher whose heartbeat is older than this is reported as stale. */
const DISPATCH_STALE_SECONDS = 120;

/** Reports what this host can and cannot do for supervision. */
export async function doctor(ctx: Ctx, q: { port?: number } = {}) {
  const problems: Problem[] = [];
  const db = (await health(ctx)).db;
  if (db !== "ok")
    problems.push({ check: "database", message: "the database does not answer", hint: "Run `switchyard db-doctor` and check SWITCHYARD_DB_URL." });
  const live = db === "ok" ? await patrolLiveness(ctx) : null;
  const patrol = { running: live?.running ?? false, heartbeat_at: live?.heartbeat_at ?? null, heartbeat_age_seconds: live?.heartbeat_age_seconds ?? null };
  if (live?.problem) problems.push({ check: "patrol", message: live.problem, hint: live.hint! });
  const beats = db === "ok" ? await dispatchHeartbeats(ctx) : [];
  for (const d of beats) {
    if ((d.heartbeat_age_seconds ?? 0) > DISPATCH_STALE_SECONDS) {
      problems.push({
        check: "dispatch",
        message: `dispatcher ${d.id} reports running but its heartbeat is ${d.heartbeat_age_seconds}s old`,
        hint: "It probably died: start `switchyard dispatch --watch` again (a new one takes over its leases).",
      });
    }
  }
  const port = q.port ?? 8787;
  const probe = ctx.host?.probePort ? await ctx.host.probePort(port) : null;
  if (probe?.listening && !probe.switchyard) {
    problems.push({
      check: "port",
      message: `something that is not a Switchyard listens on 127.0.0.1:${port}`,
      hint: `\`switchyard up\` cannot use that port: stop the other process (\`lsof -i :${port}\` shows it) or run up with --port N.`,
    });
  }
  return {
    ...(await hostDoctor(ctx, problems)),
    database: db,
    patrol,
    ports: [{ port, listening: probe?.listening ?? null, switchyard: probe?.switchyard ?? null }],
    dispatch: {
      running: beats.length,
      dispatchers: beats.map((d) => ({ id: d.id, host: d.host, heartbeat_at: d.heartbeat_at, heartbeat_age_seconds: d.heartbeat_age_seconds })),
    },
    ok: problems.length === 0,
    problems,
  };
}

/** The host half of the doctor (tools and agent CLIs), usable without a database. */
export async function hostDoctor(ctx: Pick<Ctx, "host" | "hostName" | "agents">, problems: Problem[]) {
  if (!ctx.host) {
    problems.push({
      check: "local_runner",
      message: "no local runner: this server cannot reach tmux, pids or transcript files",
      hint: "Run supervision commands on the agents' machine or through its runner.",
    });
    const none = { command: null, found: false, signed_in: null, auth: "not checked: no local runner" };
    return {
      host: ctx.hostName ?? null,
      local_runner: false,
      platform: null,
      tmux: { available: false, version: null },
      lsof: { available: false, version: null },
      agents: { codex: none, claude: none },
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
  // Asked in parallel (Claude Code takes about a second to answer); problems keep a fixed order.
  const found: [Problem[], Problem[]] = [[], []];
  const [codex, claude] = await Promise.all([agentCheck(ctx, "codex", found[0]), agentCheck(ctx, "claude", found[1])]);
  problems.push(...found[0], ...found[1]);
  return {
    host: ctx.hostName ?? null,
    local_runner: true,
    platform: caps.platform,
    tmux: caps.tmux,
    lsof: caps.lsof,
    agents: { codex, claude },
  };
}
