import { z } from "@hono/zod-openapi";
import { Cron } from "croner";
import { and, count, desc, eq, gt, isNull, sql } from "drizzle-orm";
import { parse as parseYaml } from "yaml";
import { commands } from "../../schema/commands.ts";
import { convoys, taskDeps } from "../../schema/convoys.ts";
import { events } from "../../schema/events.ts";
import { gates } from "../../schema/gates.ts";
import { healthStates, notifications, pluginRuns, pluginStates, spawns, type PluginRunRow, type PluginStateRow } from "../../schema/patrol.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { idFloor } from "../lib/ids.ts";
import type { PluginFile } from "../lib/host.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import type { StepInput } from "./dag.ts";
import { patrolConfig, type PatrolConfigValues } from "./state.ts";

/** Metrics a condition gate may compare; each is one index-served count. */
export const PLUGIN_METRICS = [
  "open_gates",
  "pending_notices",
  "unhealthy_components",
  "blocked_tasks",
  "open_convoys",
  "pending_spawns",
  "pending_commands",
] as const;
type Metric = (typeof PLUGIN_METRICS)[number];

const Duration = z
  .string()
  .regex(/^\d+\s*[smhd]?$/, "a duration like 30s, 10m, 2h or 1d")
  .transform((s) => {
    const m = /^(\d+)\s*([smhd])?$/.exec(s)!;
    return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? "s") as "s"] * 1000;
  });

const Gate = z.discriminatedUnion("type", [
  z.object({ type: z.literal("cooldown"), cooldown: Duration }).strict(),
  z
    .object({
      type: z.literal("cron"),
      cron: z.string().refine((e) => {
        try {
          new Cron(e, { paused: true });
          return true;
        } catch {
          return false;
        }
      }, "not a valid cron expression"),
    })
    .strict(),
  z
    .object({
      type: z.literal("condition"),
      metric: z.enum(PLUGIN_METRICS),
      op: z.enum([">", ">=", "<", "<=", "==", "!="]),
      value: z.number(),
    })
    .strict(),
  z
    .object({
      type: z.literal("event"),
      event: z.string().regex(/^(patrol|[a-z_]{1,64})$/, "an audit event kind like convoy_closed, or 'patrol' for every run"),
    })
    .strict(),
]);

/** The frontmatter of a plugin.md. */
export const PluginFrontmatter = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
      .optional(),
    description: z.string().max(2000).optional(),
    gate: Gate,
    command: z.array(z.string().min(1).max(4096)).min(1).max(100),
    timeout: Duration.optional(),
    env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string().max(4096)).optional(),
  })
  .strict();

export type PluginDef = z.output<typeof PluginFrontmatter> & { name: string; dir: string; instructions: string };

/** A plugin as found on disk: parsed, or with the reason it could not be. */
export type FoundPlugin = { ok: true; def: PluginDef } | { ok: false; name: string; dir: string; error: string };

/** Parses a plugin.md: YAML frontmatter between `---` lines, then free instructions. */
export function parsePluginFile(file: PluginFile): FoundPlugin {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/.exec(file.text);
  if (!m) return { ok: false, name: file.name, dir: file.dir, error: "plugin.md has no frontmatter (--- … ---)" };
  let data: unknown;
  try {
    data = parseYaml(m[1]!);
  } catch (e) {
    return { ok: false, name: file.name, dir: file.dir, error: `frontmatter is not YAML: ${(e as Error).message}` };
  }
  const parsed = PluginFrontmatter.safeParse(data);
  if (!parsed.success) {
    return {
      ok: false,
      name: file.name,
      dir: file.dir,
      error: parsed.error.issues.map((i) => `${i.path.join(".") || "frontmatter"}: ${i.message}`).join("; "),
    };
  }
  return { ok: true, def: { ...parsed.data, name: parsed.data.name ?? file.name, dir: file.dir, instructions: m[2]!.trim() } };
}

/** Where plugins are looked for: the config's plugin_dir, else the host's default. */
function pluginDir(ctx: Ctx, config: PatrolConfigValues): string | null {
  return config.plugin_dir ?? ctx.host?.defaultPluginDir() ?? null;
}

/** Every plugin on this host, parsed. */
export async function findPlugins(ctx: Ctx, config: PatrolConfigValues): Promise<{ dir: string | null; plugins: FoundPlugin[] }> {
  const dir = pluginDir(ctx, config);
  if (!ctx.host || !dir) return { dir, plugins: [] };
  return { dir, plugins: (await ctx.host.listPlugins(dir)).map(parsePluginFile) };
}

async function metric(ctx: Ctx, m: Metric): Promise<number> {
  const n = async (q: Promise<Array<{ n: number }>>) => (await q)[0]?.n ?? 0;
  switch (m) {
    case "open_gates":
      return n(ctx.db.select({ n: count() }).from(gates).where(eq(gates.state, "open")));
    case "pending_notices":
      return n(
        ctx.db
          .select({ n: count() })
          .from(notifications)
          .where(and(eq(notifications.recipient, "owner"), isNull(notifications.ackedAt))),
      );
    case "unhealthy_components":
      return n(ctx.db.select({ n: count() }).from(healthStates).where(gt(healthStates.unresponsiveCycles, 0)));
    case "blocked_tasks":
      return n(
        ctx.db
          .select({ n: sql<number>`count(DISTINCT ${taskDeps.taskId})` })
          .from(taskDeps)
          .where(isNull(taskDeps.resolvedAt)),
      );
    case "open_convoys":
      return n(ctx.db.select({ n: count() }).from(convoys).where(eq(convoys.state, "open")));
    case "pending_spawns":
      return n(ctx.db.select({ n: count() }).from(spawns).where(eqLiteral(spawns.state, "pending")));
    case "pending_commands":
      return n(ctx.db.select({ n: count() }).from(commands).where(eq(commands.state, "pending")));
  }
}

/** Whether a plugin's gate is open now, and why; for event gates, the newest event seen. */
export async function gateOpen(ctx: Ctx, def: PluginDef, state: PluginStateRow | undefined): Promise<{ open: boolean; reason: string; eventId?: string }> {
  const nowMs = ctx.now().getTime();
  const last = state?.lastRunAt ?? null;
  const g = def.gate;
  switch (g.type) {
    case "cooldown":
      if (last === null) return { open: true, reason: "never ran" };
      return nowMs - last >= g.cooldown
        ? { open: true, reason: `last ran ${Math.round((nowMs - last) / 1000)}s ago (cooldown ${g.cooldown / 1000}s)` }
        : { open: false, reason: `cooling down for ${Math.ceil((g.cooldown - (nowMs - last)) / 1000)}s more` };
    case "cron": {
      // A scheduled instant after the last run (or, never run, in the last minute) that is due.
      const from = new Date(last ?? nowMs - 60_000);
      const next = new Cron(g.cron, { paused: true }).nextRun(from);
      return next && next.getTime() <= nowMs
        ? { open: true, reason: `scheduled at ${next.toISOString()}` }
        : { open: false, reason: `next at ${next?.toISOString() ?? "never"}` };
    }
    case "condition": {
      const v = await metric(ctx, g.metric);
      const ok = { ">": v > g.value, ">=": v >= g.value, "<": v < g.value, "<=": v <= g.value, "==": v === g.value, "!=": v !== g.value }[g.op];
      return { open: ok, reason: `${g.metric} = ${v} ${ok ? "" : "not "}${g.op} ${g.value}`.replace("  ", " ") };
    }
    case "event": {
      if (g.event === "patrol") return { open: true, reason: "runs on every patrol" };
      // Only events since the last look are read: a range on the time-sorted primary key.
      const after = state?.lastEventId ?? idFloor("evt", last ?? nowMs);
      const [ev] = await ctx.db
        .select({ id: events.id })
        .from(events)
        .where(and(gt(events.id, after), eq(events.kind, g.event)))
        .orderBy(desc(events.id))
        .limit(1);
      return ev ? { open: true, reason: `saw ${g.event} ${ev.id}`, eventId: ev.id } : { open: false, reason: `no ${g.event} since the last run` };
    }
  }
}

/** Runs one plugin's command and records the run and the plugin's state. */
export async function runPlugin(ctx: Ctx, def: PluginDef, opts: { patrolRunId: string | null; timeoutMs: number; eventId?: string }): Promise<PluginRunRow> {
  if (!ctx.host)
    throw new ApiError("HOST_UNAVAILABLE", "plugins run on a local runner", { hint: "Run the patrol with `switchyard up` on the plugins' machine." });
  const startedAt = ctx.now().getTime();
  const id = ctx.newId("plr");
  let row: PluginRunRow;
  try {
    const out = await ctx.host.runCommand(def.command, {
      cwd: def.dir,
      timeoutMs: def.timeout ?? opts.timeoutMs,
      env: { ...(def.env ?? {}), SWITCHYARD_PLUGIN: def.name, SWITCHYARD_PATROL_RUN: opts.patrolRunId ?? "" },
    });
    row = {
      id,
      plugin: def.name,
      patrolRunId: opts.patrolRunId,
      state: out.timedOut ? "timed_out" : out.code === 0 ? "succeeded" : "failed",
      exitCode: out.code,
      stdout: out.stdout,
      stderr: out.stderr,
      durationMs: out.durationMs,
      startedAt,
    };
  } catch (e) {
    row = {
      id,
      plugin: def.name,
      patrolRunId: opts.patrolRunId,
      state: "failed",
      exitCode: null,
      stdout: "",
      stderr: (e as Error).message,
      durationMs: 0,
      startedAt,
    };
  }
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "plugin_ran", payload: { plugin: def.name, run_id: id, state: row.state, exit_code: row.exitCode } });
  await ctx.db.batch([
    ctx.db.insert(pluginRuns).values(row),
    ctx.db
      .insert(pluginStates)
      .values({ name: def.name, runs: 1, lastRunAt: startedAt, lastState: row.state, lastRunId: id, lastEventId: opts.eventId ?? null, updatedAt: nowMs })
      .onConflictDoUpdate({
        target: pluginStates.name,
        set: {
          runs: sql`${pluginStates.runs} + 1`,
          lastRunAt: startedAt,
          lastState: row.state,
          lastRunId: id,
          ...(opts.eventId ? { lastEventId: opts.eventId } : {}),
          updatedAt: nowMs,
        },
      }),
    audit.stmt,
  ]);
  return row;
}

/**
 * The plugin-run step: every plugin whose gate is open runs once, in directory order. A plugin
 * that fails is recorded and the others still run; a plugin.md that does not parse is reported.
 */
export async function pluginRunStep({ ctx, runId, config }: StepInput) {
  const { dir, plugins } = await findPlugins(ctx, config);
  const states = new Map((await ctx.db.select().from(pluginStates)).map((s) => [s.name, s]));
  const ran: Array<{ plugin: string; state: string; exit_code: number | null; run_id: string }> = [];
  const skipped: Array<{ plugin: string; reason: string }> = [];
  const invalid: Array<{ plugin: string; error: string }> = [];
  for (const p of plugins) {
    if (!p.ok) {
      invalid.push({ plugin: p.name, error: p.error });
      continue;
    }
    const state = states.get(p.def.name);
    if (!state && p.def.gate.type === "event" && p.def.gate.event !== "patrol") {
      // An event gate reacts to events after the plugin was first seen, not to all history.
      await ctx.db
        .insert(pluginStates)
        .values({ name: p.def.name, runs: 0, lastEventId: idFloor("evt", ctx.now().getTime()), updatedAt: ctx.now().getTime() })
        .onConflictDoNothing();
      skipped.push({ plugin: p.def.name, reason: `watching for ${p.def.gate.event} from now on` });
      continue;
    }
    const g = await gateOpen(ctx, p.def, state);
    if (!g.open) {
      skipped.push({ plugin: p.def.name, reason: g.reason });
      continue;
    }
    const r = await runPlugin(ctx, p.def, { patrolRunId: runId, timeoutMs: config.plugin_timeout_seconds * 1000, eventId: g.eventId });
    ran.push({ plugin: p.def.name, state: r.state, exit_code: r.exitCode, run_id: r.id });
  }
  return { plugin_dir: dir, found: plugins.length, ran: ran.length, failed: ran.filter((r) => r.state !== "succeeded").length, runs: ran, skipped, invalid };
}

const PluginInfo = z
  .object({
    name: z.string(),
    dir: z.string(),
    valid: z.boolean(),
    error: z.string().nullable(),
    description: z.string().nullable(),
    gate: z.record(z.string(), z.unknown()).nullable(),
    command: z.array(z.string()).nullable(),
    gate_open: z.boolean().nullable(),
    gate_reason: z.string().nullable(),
    runs: z.number().int(),
    last_run_at: z.string().nullable(),
    last_state: z.string().nullable(),
  })
  .openapi("Plugin");

const PluginRun = z
  .object({
    id: z.string(),
    plugin: z.string(),
    patrol_run_id: z.string().nullable(),
    state: z.string(),
    exit_code: z.number().int().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    duration_ms: z.number().int(),
    started_at: z.string(),
  })
  .openapi("PluginRun");

export const listPluginsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/patrol/plugins",
  tags: ["patrol"],
  summary: "Plugins found in the plugin directory, with their gate and last run",
  description: "CLI: plugin list.",
  responses: { 200: jsonResponse(z.object({ plugin_dir: z.string().nullable(), plugins: z.array(PluginInfo) }).openapi("PluginList"), "Plugins") },
});

export const PluginNameParam = z.object({
  name: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "name", in: "path" } }),
});

export const runPluginRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/patrol/plugins/{name}/run",
    tags: ["patrol"],
    summary: "Run one plugin now, whatever its gate says (owner only)",
    description: "Runs the command with an argument array, a timeout and a stripped environment; the output is recorded. CLI: plugin run NAME.",
    request: { params: PluginNameParam },
    responses: { 200: jsonResponse(z.object({ run: PluginRun }).openapi("PluginRunResult"), "The run (its state says whether the command succeeded)") },
  },
  { rateLimited: true, deadline: "own" },
);

function pluginRunToWire(r: PluginRunRow) {
  return {
    id: r.id,
    plugin: r.plugin,
    patrol_run_id: r.patrolRunId,
    state: r.state,
    exit_code: r.exitCode,
    stdout: r.stdout,
    stderr: r.stderr,
    duration_ms: r.durationMs,
    started_at: iso(r.startedAt)!,
  };
}

/** Lists the plugins on this host with their gates evaluated now. */
export async function listPlugins(ctx: Ctx) {
  const config = await patrolConfig(ctx);
  const { dir, plugins } = await findPlugins(ctx, config);
  const states = new Map((await ctx.db.select().from(pluginStates)).map((s) => [s.name, s]));
  const out = [];
  for (const p of plugins) {
    const name = p.ok ? p.def.name : p.name;
    const st = states.get(name);
    const g = p.ok ? await gateOpen(ctx, p.def, st) : null;
    out.push({
      name,
      dir: p.ok ? p.def.dir : p.dir,
      valid: p.ok,
      error: p.ok ? null : p.error,
      description: p.ok ? (p.def.description ?? null) : null,
      gate: p.ok ? (p.def.gate as Record<string, unknown>) : null,
      command: p.ok ? p.def.command : null,
      gate_open: g?.open ?? null,
      gate_reason: g?.reason ?? null,
      runs: st?.runs ?? 0,
      last_run_at: iso(st?.lastRunAt),
      last_state: st?.lastState ?? null,
    });
  }
  return { plugin_dir: dir, plugins: out };
}

/** Runs a plugin by name now. */
export async function runPluginNow(ctx: Ctx, name: string) {
  const config = await patrolConfig(ctx);
  const { plugins } = await findPlugins(ctx, config);
  const p = plugins.find((x) => (x.ok ? x.def.name : x.name) === name);
  if (!p) throw notFound("plugin", name, "List plugins with: switchyard plugin list");
  if (!p.ok) throw new ApiError("VALIDATION_FAILED", `plugin '${name}' has an invalid plugin.md: ${p.error}`, { hint: `Fix ${p.dir}/plugin.md.` });
  const r = await runPlugin(ctx, p.def, { patrolRunId: null, timeoutMs: config.plugin_timeout_seconds * 1000 });
  return { run: pluginRunToWire(r) };
}
