import { z } from "@hono/zod-openapi";
import type { CommandRow } from "../../schema/commands.ts";
import { TRANSCRIPT_KINDS, type SessionRow, type TranscriptKind } from "../../schema/sessions.ts";
import type { RUNNER_COMMAND_TYPES } from "../queue/claim.ts";
import type { Executor, HostCtx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { HostError, type CodexThreadControl, type Host } from "../lib/host.ts";
import { assertPaneOwned } from "../lib/local.ts";
import { paneText } from "../lib/pane-text.ts";
import { normalizeLine } from "../observe/normalize.ts";
import { TmuxSessionName } from "../sessions/schema.ts";
import { submitText } from "./submit.ts";

/*
 * The host commands' side effects. They use only ctx.host and the stored payload — never the
 * database — so the same code runs inline in a request, in a dispatcher, and in a remote
 * runner that talks to the server over HTTP.
 */

const TmuxTarget = TmuxSessionName;

/**
 * The agent a pane must belong to before it is typed into or read: its pid (and start time) as
 * registered. Every pane command carries it, so the check runs wherever the command runs,
 * including a remote runner without the database.
 */
const PaneOwner = {
  pid: z.number().int().positive().nullable().optional(),
  pid_started_at: z.number().int().nullable().optional(),
};

/** The PaneOwner fields of a session's pane commands. */
export function paneOwnerOf(s: Pick<SessionRow, "pid" | "pidStartedAt">): { pid: number | null; pid_started_at: number | null } {
  return { pid: s.pid, pid_started_at: s.pidStartedAt };
}

export const NudgePayload = z.object({
  ...PaneOwner,
  tmux_session: TmuxTarget,
  text: z.string().min(1).max(20_000),
  /** When known, submission is verified by a new user message in the transcript. */
  transcript_path: z.string().min(1).nullable().optional(),
  transcript_kind: z.enum(TRANSCRIPT_KINDS).nullable().optional(),
});

export const InterruptPayload = z.object({
  ...PaneOwner,
  /** A Codex rollout: the interrupt goes through the app-server serving it when one is reachable. */
  transcript_path: z.string().min(1).nullable().optional(),
  tmux_session: TmuxTarget,
  transcript_kind: z.enum(TRANSCRIPT_KINDS).nullable().optional(),
  key: z.string().regex(/^(C-[a-z]|Escape|Esc|Enter|q)$/),
  followup: z.string().min(1).max(20_000).nullable(),
});

export const StopPayload = z.object({ tmux_session: TmuxTarget.nullable() });

export const CapturePayload = z.object({
  ...PaneOwner,
  transcript_path: z.string().min(1).nullable().optional(),
  tmux_session: TmuxTarget,
  scrollback: z.number().int().min(0).max(10_000).optional(),
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The Host for a command's machine, or HOST_UNAVAILABLE when this process is not on it. */
function commandHost(ctx: HostCtx, cmd: CommandRow): Host {
  if (!ctx.host) {
    throw new ApiError("HOST_UNAVAILABLE", `this process has no local runner, so it cannot run ${cmd.type} command ${cmd.id}`, {
      hint: "Host commands run in a dispatcher or runner on the session's machine.",
    });
  }
  if (cmd.host && ctx.hostName && cmd.host !== ctx.hostName) {
    throw new ApiError("HOST_UNAVAILABLE", `command ${cmd.id} is for host '${cmd.host}', not '${ctx.hostName}'`, {
      hint: `Let that host's runner execute it: switchyard runner --host ${cmd.host}.`,
    });
  }
  return ctx.host;
}

/**
 * Evidence that a prompt reached the agent: a user message appended to its transcript after
 * this moment. Reads the file through the Host, so it needs no database.
 */
async function transcriptVerifier(host: Host, path: string, kind: TranscriptKind): Promise<() => Promise<boolean>> {
  const before = (await host.fileInfo(path))?.size ?? 0;
  const decoder = new TextDecoder();
  return async () => {
    const info = await host.fileInfo(path);
    if (!info || info.size <= before) return false;
    const text = decoder.decode(await host.readBytes(path, before, info.size - before));
    // The last piece may be a line still being written; only complete lines count.
    return text
      .split("\n")
      .slice(0, -1)
      .some((line) => {
        try {
          return normalizeLine(kind, JSON.parse(line)).some((e) => e.kind === "user_message");
        } catch {
          return false;
        }
      });
  };
}

/**
 * The app-server connection for a Codex session whose thread a reachable app-server daemon
 * serves (a Codex TUI in daemon mode); null means: use the pane.
 */
async function nativeCodex(host: Host, p: { transcript_path?: string | null; transcript_kind?: TranscriptKind | null }): Promise<CodexThreadControl | null> {
  if (p.transcript_kind !== "codex" || !p.transcript_path || !host.codexThread) return null;
  return host.codexThread(p.transcript_path);
}

/** Waits (bounded) for `verify`, polling; true as soon as it holds. */
async function eventually(verify: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await verify()) return true;
    if (Date.now() > until) return false;
    await sleep(100);
  }
}

/**
 * Submits through the app-server and checks the rollout for the user message, like a typed nudge.
 * The text is the same literal form the pane would get (lib/pane-text.ts): the protocol would
 * carry escape sequences into the agent's input verbatim.
 */
async function nativeSubmit(host: Host, native: CodexThreadControl, text: string, transcriptPath: string) {
  const verify = await transcriptVerifier(host, transcriptPath, "codex");
  const sent = await native.submit(paneText(text));
  const seen = await eventually(verify, 10_000);
  return {
    submitted: seen,
    enter_attempts: 0,
    verified_by: seen ? ("transcript" as const) : null,
    path: "app_server" as const,
    via: sent.via,
    turn_id: sent.turn_id,
    thread_id: native.threadId,
  };
}

/**
 * Why the agent registered for the pane (its pid at its start time) cannot take typed text now,
 * asked afresh each time (see Host.agentKeyboardBlocker); undefined when the session recorded no pid.
 */
function agentAwayCheck(host: Host, p: { pid?: number | null; pid_started_at?: number | null }): (() => Promise<string | null>) | undefined {
  const pid = p.pid;
  return pid != null ? () => host.agentKeyboardBlocker(pid, p.pid_started_at ?? null) : undefined;
}

const nudge: Executor<z.infer<typeof NudgePayload>, HostCtx> = {
  payload: NudgePayload,
  async run(ctx, cmd, p) {
    const host = commandHost(ctx, cmd);
    await assertPaneOwned(host, p.tmux_session, { pid: p.pid ?? null, startedAt: p.pid_started_at, transcriptPath: p.transcript_path });
    const native = await nativeCodex(host, p);
    if (native) {
      try {
        const r = await nativeSubmit(host, native, p.text, p.transcript_path!);
        return { ok: r.submitted, result: r, error: r.submitted ? undefined : `${r.via} answered (turn ${r.turn_id}) but no user message reached the rollout` };
      } finally {
        await native.close();
      }
    }
    const verify = p.transcript_path && p.transcript_kind ? await transcriptVerifier(host, p.transcript_path, p.transcript_kind) : undefined;
    const r = await submitText(host, p.tmux_session, p.text, { verify, agentAway: agentAwayCheck(host, p) });
    return {
      ok: r.submitted,
      result: { ...r, path: "tmux" },
      error: r.submitted
        ? undefined
        : r.typed === false
          ? `nothing typed: ${r.held}`
          : r.held
            ? `Enter not pressed: ${r.held}`
            : `text typed but not submitted after ${r.enter_attempts} Enter presses`,
    };
  },
};

const interrupt: Executor<z.infer<typeof InterruptPayload>, HostCtx> = {
  payload: InterruptPayload,
  async run(ctx, cmd, p) {
    const host = commandHost(ctx, cmd);
    await assertPaneOwned(host, p.tmux_session, { pid: p.pid ?? null, startedAt: p.pid_started_at, transcriptPath: p.transcript_path });
    const native = await nativeCodex(host, p);
    if (native) {
      try {
        const stopped = await native.interrupt();
        let followup: boolean | null = null;
        let followupTurn: string | null = null;
        if (p.followup) {
          const r = await nativeSubmit(host, native, p.followup, p.transcript_path!);
          followup = r.submitted;
          followupTurn = r.turn_id;
        }
        return {
          ok: followup !== false,
          result: {
            sent: true,
            path: "app_server",
            thread_id: native.threadId,
            interrupted_turn_id: stopped.turn_id,
            followup_submitted: followup,
            followup_turn_id: followupTurn,
          },
          error: followup === false ? "follow-up sent but it did not reach the rollout" : undefined,
        };
      } finally {
        await native.close();
      }
    }
    await host.tmuxSendKeys(p.tmux_session, p.key);
    let followup: boolean | null = null;
    let held: string | undefined;
    let typed: boolean | undefined;
    if (p.followup) {
      // Give the agent time to abandon its turn before the new prompt is typed.
      await sleep(500);
      // An idle agent quits on C-c, and the shell it was started from may draw a prompt that
      // looks like a composer (starship's `❯`): the follow-up goes only to the agent itself,
      // running in its terminal's foreground. Asked afresh, not through verifyPane, whose
      // positive answer is cached.
      const agentAway = agentAwayCheck(host, p);
      const away = await agentAway?.();
      if (away) {
        followup = false;
        typed = false;
        held = `after ${p.key}, ${away}; nothing was typed`;
      } else {
        ({ submitted: followup, held, typed } = await submitText(host, p.tmux_session, p.followup, { agentAway }));
      }
    }
    return {
      ok: followup !== false,
      result: { sent: true, path: "tmux", followup_submitted: followup, ...(held ? { followup_held: held, followup_typed: typed !== false } : {}) },
      error:
        followup === false
          ? typed === false
            ? `follow-up not typed: ${held}`
            : held
              ? `follow-up typed, Enter not pressed: ${held}`
              : "follow-up typed but not submitted"
          : undefined,
    };
  },
};

const stop: Executor<z.infer<typeof StopPayload>, HostCtx> = {
  payload: StopPayload,
  async run(ctx, cmd, p) {
    if (!p.tmux_session) return { ok: true, result: { tmux_killed: false } };
    const host = commandHost(ctx, cmd);
    try {
      await host.tmuxKillSession(p.tmux_session);
      return { ok: true, result: { tmux_killed: true } };
    } catch (e) {
      // A pane that is already gone is stopped.
      if (e instanceof HostError && e.code === "TMUX_SESSION_NOT_FOUND") return { ok: true, result: { tmux_killed: false } };
      throw e;
    }
  },
};

const capture: Executor<z.infer<typeof CapturePayload>, HostCtx> = {
  payload: CapturePayload,
  async run(ctx, cmd, p) {
    const host = commandHost(ctx, cmd);
    await assertPaneOwned(host, p.tmux_session, { pid: p.pid ?? null, startedAt: p.pid_started_at, transcriptPath: p.transcript_path });
    const pane = await host.tmuxCapturePane(p.tmux_session, { scrollback: p.scrollback });
    return { ok: true, result: { pane } };
  },
};

/**
 * Executors of the host commands a session's machine performs; also what a remote runner runs,
 * so there is exactly one per RUNNER_COMMAND_TYPES entry (the compiler checks both ways).
 */
export const PANE_EXECUTORS = { nudge, interrupt, stop, capture } satisfies Record<(typeof RUNNER_COMMAND_TYPES)[number], Executor<any, HostCtx>>;
