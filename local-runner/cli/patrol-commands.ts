import { STEP_IDS } from "../../functions/patrol/dag.ts";
import { NOTICE_STATES } from "../../schema/enums.ts";
import { callWithVerdict, err, errorText, out, withTransport } from "./api-call.ts";
import { flag, int, list, pos, str, UsageError, type Args, type CommandSpec } from "./spec.ts";

const enc = encodeURIComponent;
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        r();
      },
      { once: true },
    );
  });

import { nextPageHintFor, pageOptions, pageQuery } from "./paging.ts";

function runLine(r: any): string {
  const counts = `ok ${r.steps_succeeded}, failed ${r.steps_failed}, skipped ${r.steps_skipped}`;
  return `${r.id} ${r.state.padEnd(9)} ${r.started_at} ${r.trigger}${r.only_step ? ` step=${r.only_step}` : ""} (${counts})${r.error ? ` error: ${r.error}` : ""}`;
}

function stepLine(s: any): string {
  const detail = s.reason ?? summarize(s.report);
  return `  ${s.step.padEnd(24)} ${s.state.padEnd(9)} ${String(s.duration_ms).padStart(5)} ms  ${detail}`;
}

/** A one-line digest of a step report: its numeric fields. */
function summarize(report: Record<string, unknown> | null): string {
  if (!report) return "";
  return Object.entries(report)
    .filter(([, v]) => typeof v === "number" || typeof v === "boolean")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
}

function renderRun(b: any): string {
  return [runLine(b.run), ...b.steps.map(stepLine)].join("\n");
}

function noticeLine(n: any): string {
  return `${n.id} ${n.created_at} [${n.kind}] ${n.subject}${n.acked_at ? ` (acked ${n.acked_at})` : ""}`;
}

/** Parses `--set key=value`: numbers become numbers, `null` null, the rest strings. */
function configPatch(a: Args): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const item of list(a, "set")) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--set takes KEY=VALUE, got '${item}'`);
    const key = item.slice(0, eq);
    const raw = item.slice(eq + 1);
    patch[key] = raw === "null" ? null : /^-?\d+$/.test(raw) ? Number(raw) : raw;
  }
  return patch;
}

/** Patrol commands: run, runs, show, status, config; and the owner's notices. */
export const PATROL_COMMANDS: CommandSpec[] = [
  {
    name: "patrol run",
    group: "patrol",
    summary: "Run the patrol: once with --once, else every --interval seconds until interrupted",
    options: {
      once: { type: "boolean", description: "One run, then exit (non-zero when a step failed)" },
      step: { type: "string", value: "STEP", choices: STEP_IDS, description: "Run only this step" },
      apply: { type: "boolean", description: "Owner: let orphan-check act per the orphan policy" },
      interval: { type: "string", value: "SECONDS", description: "Pause between runs without --once (default 60; at most 86400)" },
      iterations: { type: "string", value: "N", description: "Stop after N runs (without --once)" },
    },
    examples: ["switchyard patrol run --once", "switchyard patrol run --once --step gate-evaluation --json", "switchyard patrol run --interval 30"],
    local: async (a, g) => {
      const step = str(a, "step");
      // A Node timer past 2^31 ms fires at once: the cap keeps a long pause a pause.
      const interval = int(a, "interval", { min: 1, max: 86_400 }) ?? 60;
      const iterations = flag(a, "once") ? 1 : int(a, "iterations", { min: 1 });
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        return await withTransport(g, async (t) => {
          let code = 0;
          for (let i = 0; iterations === undefined || i < iterations; i++) {
            if (i > 0) await sleep(interval * 1000, ac.signal);
            if (ac.signal.aborted) break;
            const res = await t.send({ method: "POST", path: "/patrol/runs", body: { step, apply: flag(a, "apply") } });
            if (res.status !== 201) {
              err(errorText(res));
              code = 1;
              continue;
            }
            if (g.json) out(JSON.stringify(res.body, null, 2));
            else out(renderRun(res.body));
            code = res.body.run.state === "succeeded" ? 0 : 1;
          }
          return code;
        });
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    },
  },
  {
    name: "patrol orphans",
    group: "patrol",
    summary: "Run orphan-check now: tasks in progress whose worker is dead or gone (exits 1 when there are any)",
    options: { apply: { type: "boolean", description: "Owner: act per orphan_policy (release ends the binding and frees the worker's claims)" } },
    local: (a, g) =>
      callWithVerdict(
        g,
        { method: "POST", path: "/patrol/runs", body: { step: "orphan-check", apply: flag(a, "apply") } },
        (b) => {
          const r = b.steps[0]?.report ?? {};
          const lines = (r.items ?? []).map((o: any) => `${o.task}: worker ${o.worker} ${o.reason} — ${o.evidence}`);
          for (const s of r.suspects ?? []) lines.push(`${s.task}: not orphaned (${s.evidence})`);
          for (const h of r.handled ?? []) lines.push(`${h.task}: ${h.action}, ${h.claims_released} claim(s) released`);
          return lines.length
            ? lines.join("\n")
            : b.steps[0]?.state === "succeeded"
              ? "no orphans"
              : `orphan-check ${b.steps[0]?.state}: ${b.steps[0]?.reason}`;
        },
        (b) => (b.steps[0]?.state !== "succeeded" || (b.steps[0]?.report?.orphans ?? 0) > 0 ? 1 : 0),
      ),
  },
  {
    name: "patrol gc",
    group: "patrol",
    summary: "Run session-gc now: dead-pid sessions become gone, our tmux sessions of gone sessions are killed",
    request: () => ({ method: "POST", path: "/patrol/runs", body: { step: "session-gc" } }),
    render: (b) => {
      const r = b.steps[0]?.report ?? {};
      return `probed ${r.probed ?? 0}, marked gone ${r.marked_gone ?? 0}${r.gone?.length ? ` (${r.gone.join(", ")})` : ""}, tmux killed ${r.tmux_killed ?? 0}${(r.left ?? []).map((l: any) => `\n  left ${l.tmux}: ${l.reason}`).join("")}`;
    },
  },
  {
    name: "patrol runs",
    group: "patrol",
    summary: "List patrol runs, newest first",
    options: pageOptions,
    request: (a) => ({ method: "GET", path: "/patrol/runs", query: pageQuery(a) }),
    render: (b, a) => (b.count ? b.runs.map(runLine).join("\n") : "no patrol runs yet") + nextPageHintFor(b, "patrol runs", a),
  },
  {
    name: "patrol show",
    group: "patrol",
    summary: "Show one patrol run and each step's result",
    positionals: [{ name: "RUN", required: true, description: "Run id (prn_…)" }],
    request: (a) => ({ method: "GET", path: `/patrol/runs/${enc(pos(a, 0)!)}` }),
    render: renderRun,
  },
  {
    name: "patrol status",
    group: "patrol",
    summary: "Is the patrol running? Exits 1 when its heartbeat is stale or missing",
    local: (_a, g) =>
      callWithVerdict(
        g,
        { method: "GET", path: "/patrol/status" },
        (b) =>
          [
            `patrol: ${b.running ? "running" : "NOT RUNNING"} (heartbeat ${b.heartbeat_at ?? "never"}${b.heartbeat_age_seconds === null ? "" : `, ${b.heartbeat_age_seconds}s ago`}, stale after ${b.heartbeat_stale_seconds}s)`,
            ...(b.problem ? [`problem: ${b.problem}`] : []),
            `last run: ${b.last_run ? runLine(b.last_run) : "none"}`,
            ...(b.current_run_id ? [`in progress: ${b.current_run_id} at ${b.current_step ?? "start"}`] : []),
            `owner notices pending: ${b.owner_notices_pending}`,
            ...b.unhealthy.map(
              (h: any) => `unhealthy: ${h.label} (${h.kind}) ${h.unresponsive_cycles} cycle(s)${h.last_action ? `, last action: ${h.last_action}` : ""}`,
            ),
            ...(b.unhealthy_total > b.unhealthy.length
              ? [`unhealthy: ${b.unhealthy_total - b.unhealthy.length} more not shown (the worst ${b.unhealthy.length} above)`]
              : []),
          ].join("\n"),
        (b) => (b.running ? 0 : 1),
      ),
  },
  {
    name: "patrol config",
    group: "patrol",
    summary: "Show the patrol's thresholds and policies, or change them with --set KEY=VALUE",
    options: { set: { type: "string", multiple: true, value: "KEY=VALUE", description: "Change one setting (owner)" } },
    examples: ["switchyard patrol config", "switchyard patrol config --set escalate_after_cycles=4 --set orphan_policy=release"],
    request: (a) => {
      const patch = configPatch(a);
      return Object.keys(patch).length ? { method: "POST", path: "/patrol/config", body: patch } : { method: "GET", path: "/patrol/config" };
    },
    render: (b) =>
      Object.entries(b.config)
        .map(
          ([k, v]) =>
            `${k.padEnd(26)} ${JSON.stringify(v)}${JSON.stringify(v) === JSON.stringify(b.defaults[k]) ? "" : ` (default ${JSON.stringify(b.defaults[k])})`}`,
        )
        .join("\n"),
  },
  {
    name: "patrol pending",
    group: "patrol",
    summary: "Spawned sessions waiting for their ready prompt before the patrol nudges them once",
    options: pageOptions,
    request: (a) => ({ method: "GET", path: "/patrol/pending-spawns", query: pageQuery(a) }),
    render: (b, a) =>
      (b.count
        ? b.spawns.map((s: any) => `${s.id} ${s.session} gen=${s.generation} tmux=${s.tmux_session} since ${s.created_at}: "${s.begin_text}"`).join("\n")
        : "no pending spawns") + nextPageHintFor(b, "patrol pending", a),
  },
  {
    name: "patrol pending-add",
    group: "patrol",
    summary: "Have the patrol nudge a spawned session once its pane shows the ready prompt",
    positionals: [{ name: "SESSION", required: true, description: "A session with a tmux pane" }],
    options: { text: { type: "string", value: "TEXT", description: 'What to type (default "Begin.")' } },
    request: (a) => ({ method: "POST", path: "/patrol/pending-spawns", body: { session: pos(a, 0), text: str(a, "text") } }),
    render: (b) => `${b.spawn.session} is pending (${b.spawn_id}); the patrol types "${b.spawn.begin_text}" once it is ready`,
  },
  {
    name: "plugin list",
    group: "patrol",
    summary: "Plugins in the plugin directory, with their gate and last run",
    request: () => ({ method: "GET", path: "/patrol/plugins" }),
    render: (b) =>
      [
        `plugin dir: ${b.plugin_dir ?? "(none)"}`,
        ...(b.plugins.length
          ? b.plugins.map((p: any) =>
              p.valid
                ? `${p.name.padEnd(24)} ${p.gate.type.padEnd(9)} ${p.gate_open ? "OPEN  " : "closed"} ${p.gate_reason}; runs ${p.runs}${p.last_state ? `, last ${p.last_state} at ${p.last_run_at}` : ""}`
                : `${p.name.padEnd(24)} INVALID: ${p.error}`,
            )
          : ["no plugins"]),
      ].join("\n"),
  },
  {
    name: "plugin run",
    group: "patrol",
    summary: "Run one plugin now (exits 1 when its command fails or times out)",
    positionals: [{ name: "NAME", required: true, description: "Plugin name" }],
    local: (a, g) =>
      callWithVerdict(
        g,
        { method: "POST", path: `/patrol/plugins/${enc(pos(a, 0)!)}/run` },
        (b) =>
          [
            `${b.run.plugin}: ${b.run.state} (exit ${b.run.exit_code ?? "-"}, ${b.run.duration_ms} ms) ${b.run.id}`,
            b.run.stdout.trimEnd(),
            b.run.stderr.trimEnd(),
          ]
            .filter(Boolean)
            .join("\n"),
        (b) => (b.run.state === "succeeded" ? 0 : 1),
      ),
  },
  {
    name: "notices",
    group: "patrol",
    summary: "The owner's inbox: escalations, convoy completions and other notices",
    options: { state: { type: "string", choices: [...NOTICE_STATES, "all"], description: "Which notices (default pending)" }, ...pageOptions },
    request: (a) => ({ method: "GET", path: "/notices", query: { state: str(a, "state"), ...pageQuery(a) } }),
    render: (b, a) => (b.count ? b.notices.map(noticeLine).join("\n") : "no notices") + nextPageHintFor(b, "notices", a),
  },
  {
    name: "notices ack",
    group: "patrol",
    summary: "Acknowledge one owner notice",
    positionals: [{ name: "ID", required: true, description: "Notice id (ntf_…)" }],
    request: (a) => ({ method: "POST", path: `/notices/${enc(pos(a, 0)!)}/ack` }),
    render: (b) => `acknowledged ${b.notice.id}: ${b.notice.subject}`,
  },
];
