import { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import { executeInline } from "../queue/inline.ts";
import { createCommand, failUnclaimed } from "../queue/store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { tokenInsert } from "../lib/auth.ts";
import { ApiError } from "../lib/errors.ts";
import type { DiscoveredTranscript, Host } from "../lib/host.ts";
import { hostErrorToApi } from "../lib/local.ts";
import { NameSchema } from "../lib/names.ts";
import { PaneTextField } from "../lib/pane-text.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { classifyPane } from "../observe/classify.ts";
import { recordSpawn } from "../patrol/spawns.ts";
import { presetIdentity, registerSession } from "../sessions/register.ts";
import { RegisterResult, TmuxSessionName } from "../sessions/schema.ts";
import { AGENT_KINDS, agentArgv, assertSignedIn, CODEX_APPROVALS, CODEX_SANDBOXES, signInHint, type AgentKind } from "./agents.ts";
import { latestConfigRow } from "../supervision/config.ts";
import { managerBootstrapPrompt } from "./bootstrap.ts";
import { acceptTrustPrompt } from "./trust.ts";
import { eqLiteral } from "../lib/sql.ts";

export const SpawnBody = z
  .object({
    name: NameSchema,
    role: z.enum(["worker", "manager"]),
    agent: z.enum(AGENT_KINDS).optional().default("codex"),
    cwd: z.string().min(1).max(4096),
    prompt: PaneTextField(20_000).optional().openapi({ description: "Initial prompt (task prompt or manager bootstrap)" }),
    sandbox: z.enum(CODEX_SANDBOXES).optional(),
    ask_for_approval: z.enum(CODEX_APPROVALS).optional(),
    accept_trust: z.boolean().optional().default(false),
    timeout_seconds: z.number().int().min(1).max(900).optional().default(60),
    tmux_session: TmuxSessionName.optional(),
    task: NameSchema.optional().openapi({ description: "For a manager without a prompt: the task its bootstrap prompt names" }),
    worker: NameSchema.optional().openapi({ description: "For a manager without a prompt: the worker its bootstrap prompt names" }),
    task_goal: z
      .string()
      .min(1)
      .max(4000)
      .optional()
      .openapi({ description: "For a manager without a prompt: the goal its bootstrap names (default: the task's recorded goal)" }),
  })
  .strict()
  .openapi("Spawn");

export const SpawnResult = RegisterResult.extend({
  spawn: z.object({
    command_id: z.string(),
    agent: z.enum(AGENT_KINDS),
    tmux_session: z.string(),
    pane_pid: z.number().int(),
    transcript_holder_pid: z.number().int(),
    trust_prompt_seen: z.boolean(),
    trust_accepted: z.boolean(),
    waited_ms: z.number().int(),
  }),
}).openapi("SpawnResult");

export const spawnRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/sessions/spawn",
    tags: ["actuate"],
    summary: "Start an agent CLI in a fresh tmux session, wait for its transcript and register it",
    description:
      "Accepts the trust prompt only when accept_trust is true. On failure the tmux session is killed and the command recorded as failed. CLI: start-worker / start-manager / start-test.",
    request: { body: jsonBody(SpawnBody) },
    responses: { 201: jsonResponse(SpawnResult, "Spawned and registered") },
  },
  { rateLimited: true, deadline: "own" },
);

export type SpawnInput = z.input<typeof SpawnBody>;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Last lines of a pane, for error messages about an agent that would not start. */
function paneTail(pane: string): string {
  return pane
    .trimEnd()
    .split("\n")
    .filter((l) => l.trim())
    .slice(-6)
    .join(" | ")
    .slice(0, 600);
}

/**
 * The refusals a spawn can know before it starts anything: no local runner, an agent CLI that is
 * not configured here, a name an active session already holds. Pair runs it for both sessions
 * before it records a task or config, so a spawn refused this way leaves nothing behind.
 */
export async function assertCanSpawn(ctx: Ctx, spawns: { name: string; agent: AgentKind }[]): Promise<Host> {
  if (!ctx.host)
    throw new ApiError("HOST_UNAVAILABLE", "spawning needs a local runner (tmux) on this server", {
      hint: "Run `switchyard start-worker` on the machine that should host the agent.",
    });
  for (const { name, agent } of spawns) {
    // Throws HOST_UNAVAILABLE naming the agent when its CLI is not configured on this host.
    agentArgv(ctx, agent, { cwd: "." });
    const [taken] = await ctx.db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(eq(sessions.name, name), eqLiteral(sessions.state, "active")))
      .limit(1);
    if (taken)
      throw new ApiError("NAME_TAKEN", `an active session is already named '${name}'`, {
        hint: `Choose another name or stop it: switchyard stop ${name}`,
      });
  }
  return ctx.host;
}

/** Spawns and registers an agent; any failure after tmux started kills it again. */
export async function spawnSession(ctx: Ctx, raw: SpawnInput, opts: { signInChecked?: boolean } = {}) {
  const input = SpawnBody.parse(raw);
  const host = await assertCanSpawn(ctx, [{ name: input.name, agent: input.agent }]);
  // tmux would turn a '.' in a session name into '_'; do it here so the name we record is the real one.
  const tmuxName = input.tmux_session ?? `sy-${input.agent}-${input.name.replaceAll(".", "_")}`;
  let prompt = input.prompt ?? null;
  if (!prompt && input.role === "manager") {
    const task = input.task ? await ctx.db.select().from(tasks).where(eq(tasks.name, input.task)).limit(1) : [];
    const configured = task[0] ? (await latestConfigRow(ctx, task[0].id)) !== null : false;
    prompt = managerBootstrapPrompt({
      manager: input.name,
      task: input.task,
      goal: input.task_goal ?? task[0]?.goal ?? null,
      worker: input.worker,
      configured,
    });
  }
  const argv = agentArgv(ctx, input.agent, { cwd: input.cwd, prompt, sandbox: input.sandbox, askForApproval: input.ask_for_approval });
  if (!opts.signInChecked) await assertSignedIn(ctx, input.agent);
  try {
    if (await host.tmuxHasSession(tmuxName)) {
      throw new ApiError("CONFLICT", `tmux session '${tmuxName}' already exists`, { hint: "Pass another --name, or stop the old session first." });
    }
  } catch (e) {
    throw hostErrorToApi(e);
  }

  const cmd = await createCommand(ctx, {
    type: "spawn",
    host: ctx.hostName ?? null,
    payload: { name: input.name, role: input.role, agent: input.agent, cwd: input.cwd, tmux_session: tmuxName, accept_trust: input.accept_trust, prompt },
  });
  // The agent starts with its own session token, so the switchyard CLI it runs acts as that
  // session, not as the owner whose home directory it shares.
  const identity = await presetIdentity(ctx, input.name);
  argv.env.SWITCHYARD_TOKEN = identity.token.secret;
  // And with a hook token that can only post this session's hook events, so the hooks that
  // `switchyard hooks install` put in its settings identify it even after /clear or resume.
  const hookToken = await tokenInsert(ctx.db, {
    id: ctx.newId("tok"),
    kind: "hook",
    nowMs: ctx.now().getTime(),
    sessionId: identity.sessionId,
    label: `hooks:${input.name}`,
  });
  await hookToken.stmt;
  argv.env.SWITCHYARD_HOOK_TOKEN = hookToken.secret;
  let started = false;
  let spawnInfo: { panePid: number; found: DiscoveredTranscript; trustSeen: boolean; trustAccepted: boolean; waitedMs: number } | null = null;
  let registered: Awaited<ReturnType<typeof registerSession>> | null = null;
  try {
    await executeInline(ctx, cmd, async () => {
      await host.tmuxNewSession({ name: tmuxName, cwd: input.cwd, command: argv.command, env: argv.env, width: 200, height: 50 });
      started = true;
      const info = await waitForTranscript(host, tmuxName, input.agent, input.accept_trust, input.timeout_seconds * 1000);
      spawnInfo = info;
      // Registering inside the effect: if it fails (a name taken meanwhile), the agent is killed below.
      registered = await registerSession(
        ctx,
        {
          name: input.name,
          role: input.role,
          pid: info.panePid,
          cwd: input.cwd,
          tmux_session: tmuxName,
          ...(info.found.kind === "codex" ? { codex_session: info.found.path } : { claude_session: info.found.path }),
        },
        { ...identity, held: { pid: info.panePid, path: info.found.path } },
      );
      return { ok: true, result: { tmux_session: tmuxName, pane_pid: info.panePid, transcript_path: info.found.path, session_id: identity.sessionId } };
    });
  } catch (e) {
    let cleanup: string | null = null;
    if (started) {
      cleanup = await host.tmuxKillSession(tmuxName).then(
        () => null,
        (err: Error) => err.message,
      );
    }
    await failUnclaimed(ctx, cmd.id, (e as Error).message);
    const audit = auditInsert(ctx, {
      kind: "session_spawn_failed",
      payload: {
        command_id: cmd.id,
        name: input.name,
        tmux_session: tmuxName,
        error: (e as Error).message,
        tmux_killed: started && cleanup === null,
        rollback_error: cleanup,
      },
    });
    await audit.stmt;
    const api = hostErrorToApi(e);
    if (api instanceof ApiError) {
      throw new ApiError(api.code, api.message, {
        hint: `${api.hint ?? ""}${started ? ` The tmux session '${tmuxName}' was ${cleanup ? `NOT cleaned up (${cleanup})` : "killed"}.` : ""}`.trim(),
      });
    }
    throw api;
  }
  const info = spawnInfo!;
  const reg = registered!;
  // The ledger session-gc cleans up from (only tmux sessions we started) and the spawn generation.
  await recordSpawn(ctx, {
    sessionId: reg.session_id,
    sessionName: input.name,
    agent: input.agent,
    host: ctx.hostName ?? null,
    tmuxSession: tmuxName,
    panePid: info.panePid,
  });
  const audit = auditInsert(ctx, {
    kind: "session_spawned",
    sessionId: reg.session_id,
    payload: {
      command_id: cmd.id,
      name: input.name,
      agent: input.agent,
      tmux_session: tmuxName,
      trust_prompt_seen: info.trustSeen,
      trust_accepted: info.trustAccepted,
    },
  });
  await audit.stmt;
  return {
    ...reg,
    spawn: {
      command_id: cmd.id,
      agent: input.agent,
      tmux_session: tmuxName,
      pane_pid: info.panePid,
      transcript_holder_pid: info.found.holderPid,
      trust_prompt_seen: info.trustSeen,
      trust_accepted: info.trustAccepted,
      waited_ms: info.waitedMs,
    },
  };
}

/**
 * Polls the new pane until the agent's transcript is open, answering the trust prompt when
 * allowed. Fails fast when the agent exits or the trust prompt must not be accepted.
 */
async function waitForTranscript(host: Host, target: string, agent: AgentKind, acceptTrust: boolean, timeoutMs: number) {
  const start = Date.now();
  let trustSeen = false;
  let trustAccepted = false;
  let lastPane = "";
  while (Date.now() - start < timeoutMs) {
    const panePid = await host.tmuxPanePid(target);
    if (panePid === null || !(await host.tmuxHasSession(target))) {
      throw new ApiError("SPAWN_FAILED", `the ${agent} process in '${target}' exited before registering`, {
        hint: `Last screen: ${paneTail(lastPane) || "(empty)"}`,
      });
    }
    lastPane = await host.tmuxCapturePane(target);
    // Codex shows its sign-in screen even with OPENAI_API_KEY set; waiting for a transcript would only time out.
    if (agent === "codex" && /Sign in with ChatGPT|Choose how you want to use Codex/.test(lastPane)) {
      throw new ApiError("AGENT_NOT_SIGNED_IN", "codex is asking to sign in", { hint: signInHint("codex") });
    }
    if (classifyPane(lastPane).matched.includes("trust_prompt")) {
      trustSeen = true;
      if (!acceptTrust) {
        throw new ApiError("SPAWN_FAILED", `${agent} is asking whether to trust the folder`, {
          hint: "Re-run with --accept-trust if you trust this directory.",
        });
      }
      trustAccepted = await acceptTrustPrompt(host, target);
      continue;
    }
    // Strict, as registration is: only the pane's own process tree counts. A looser search can
    // meet another agent's fresh rollout (held by a process without a terminal, in the same cwd)
    // before this agent has written its own, and registration would then refuse it.
    const found = await host.discoverTranscript(panePid, { strict: true });
    if (found) return { panePid, found, trustSeen, trustAccepted, waitedMs: Date.now() - start };
    await sleep(400);
  }
  throw new ApiError("SPAWN_FAILED", `no ${agent} transcript appeared in ${Math.round(timeoutMs / 1000)}s`, {
    hint: `The agent writes its transcript on the first prompt: pass --task/--prompt, or raise --timeout-seconds. Last screen: ${paneTail(lastPane) || "(empty)"}`,
  });
}
