import { z } from "@hono/zod-openapi";
import { queryNumber } from "../lib/names.ts";
import { eq } from "drizzle-orm";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";

export const DoctorSelfQuery = z.object({
  pid: queryNumber(
    z
      .number()
      .int()
      .min(1)
      .max(2 ** 31),
  )
    .optional()
    .openapi({ description: "A process of the caller (the CLI sends its own); its ancestors are searched for the agent's transcript" }),
});

export const DoctorSelfResult = z
  .object({
    ok: z.boolean(),
    token_works: z.boolean(),
    principal: z.string(),
    session: z.string().nullable().openapi({ description: "The registered session the token belongs to" }),
    local_runner: z.boolean(),
    transcript: z.object({
      discoverable: z.boolean().nullable().openapi({ description: "null when not checked (no pid, no local runner)" }),
      kind: z.string().nullable(),
      path: z.string().nullable().openapi({ description: "Shown to the owner, and to a session when it is its own registered transcript" }),
      holder_pid: z.number().int().nullable(),
      matches_registration: z.boolean().nullable(),
    }),
    problems: z.array(z.object({ check: z.string(), message: z.string(), hint: z.string() })),
  })
  .openapi("DoctorSelfResult");

export const doctorSelfRoute = defineRoute(
  ["owner", "session"],
  {
    method: "get",
    path: "/admin/doctor-self",
    tags: ["admin"],
    summary: "Can the calling agent session register (or did it): token, transcript discovery",
    description:
      "Answers with the caller's principal (so the token works) and, given a pid of the caller's process tree, whether the agent's transcript is discoverable from it (the agent is the nearest ancestor holding one). A session token may check only its own process tree: the pid's ancestors must include the session's registered pid. The CLI adds what only it can see (switchyard on PATH, inside tmux). CLI: doctor-self.",
    request: { query: DoctorSelfQuery },
    responses: { 200: jsonResponse(DoctorSelfResult, "Report") },
  },
  { rateLimited: true },
);

type Problem = { check: string; message: string; hint: string };

/** Ancestors of the CLI searched for the agent when the caller has no registered pid. */
const MAX_LEVELS = 5;

/** The server's half of doctor-self. */
export async function doctorSelf(ctx: Ctx, q: z.output<typeof DoctorSelfQuery>) {
  const problems: Problem[] = [];
  const auth = ctx.auth;
  const me = auth.kind === "session" ? (await ctx.db.select().from(sessions).where(eq(sessions.id, auth.sessionId)).limit(1))[0] : undefined;
  const transcript = {
    discoverable: null as boolean | null,
    kind: null as string | null,
    path: null as string | null,
    holder_pid: null as number | null,
    matches_registration: null as boolean | null,
  };
  if (!ctx.host) {
    problems.push({
      check: "local_runner",
      message: "this server has no local runner, so it cannot look for the transcript",
      hint: "Run doctor-self through the CLI on the agent's machine.",
    });
  } else if (q.pid === undefined) {
    problems.push({
      check: "pid",
      message: "no pid given, so the transcript was not looked for",
      hint: "Run `switchyard doctor-self` from the agent's shell; it sends its pid.",
    });
  } else {
    const ancestry = await ctx.host.processAncestry(q.pid);
    if (me && (!me.pid || !ancestry.includes(me.pid))) {
      problems.push({
        check: "pid",
        message: "the pid is not in this session's process tree",
        hint: "Run doctor-self from the registered agent's own shell (its pid must be an ancestor).",
      });
    } else {
      // The nearest ancestor that holds a transcript is the agent running this shell. The walk
      // stops at the session's own agent, or a few levels up (CLI, shell, wrapper, agent): higher
      // ancestors (a tmux server, init) have every agent below them.
      const upTo = me?.pid ? ancestry.indexOf(me.pid) + 1 : MAX_LEVELS;
      for (const pid of ancestry.slice(0, upTo).filter((p) => p > 1)) {
        const found = await ctx.host.discoverTranscript(pid, { strict: true });
        if (found) {
          transcript.discoverable = true;
          transcript.kind = found.kind;
          transcript.holder_pid = pid;
          transcript.matches_registration = me ? me.transcriptPath === found.path : null;
          transcript.path = auth.kind === "owner" || transcript.matches_registration ? found.path : null;
          break;
        }
      }
      if (!transcript.discoverable) {
        transcript.discoverable = false;
        problems.push({
          check: "transcript",
          message: "no agent transcript is held by this process or its ancestors",
          hint: "Type something into the agent first (Codex writes its rollout on the first turn), or register with --codex-session/--claude-session PATH.",
        });
      } else if (transcript.matches_registration === false) {
        problems.push({
          check: "transcript",
          message: "the transcript this agent holds is not the one its session registered",
          hint: "The agent may have resumed or cleared into a new transcript; register again with --pid to record it.",
        });
      }
    }
  }
  return {
    ok: problems.length === 0,
    token_works: true,
    principal: auth.kind,
    session: me?.name ?? null,
    local_runner: !!ctx.host,
    transcript,
    problems,
  };
}
