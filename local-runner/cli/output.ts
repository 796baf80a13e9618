// How an API-backed command prints its answer. The full CLI (main.ts) and the fast path for read
// commands (fast.ts) both print through here, so the two cannot drift apart.
import { block } from "./format.ts";
import { EXIT_FAILED, EXIT_OK, type Args, type CommandSpec } from "./spec.ts";
import type { ApiResponse } from "./transport.ts";

/** Output sink, replaceable in tests. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** The process's stdout and stderr, each text ending in exactly one newline. */
export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
};

/**
 * Text for a terminal: every control character but newline and tab (ESC and so every escape
 * sequence, BEL, the C1 range) shown as a visible `\xNN`. An answer carries what agents and
 * hooks wrote (event names, tool names, messages); printed raw, an escape sequence in it could
 * retitle the owner's terminal, write its clipboard (OSC 52) or hide lines.
 */
export function terminalSafe(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Renders an API answer for humans when a command has no renderer of its own. */
export function renderDefault(body: unknown): string {
  return block(body);
}

/**
 * Prints one API answer (`--json`: the wire body on stdout, errors included, since agents parse
 * stdout; else the command's rendering, or the error on stderr) and returns the exit code.
 */
export function printAnswer(spec: CommandSpec, a: Args, json: boolean, res: ApiResponse, io: Io): number {
  const ok = res.status >= 200 && res.status < 300;
  if (json) io.out(JSON.stringify(res.body, null, 2));
  else if (ok) io.out(terminalSafe((spec.render ?? renderDefault)(res.body, a)));
  else {
    const e = res.body?.error ?? { code: "INTERNAL", message: `HTTP ${res.status}` };
    io.err(terminalSafe(`error: ${e.code}: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ""}`));
  }
  if (!ok) return EXIT_FAILED;
  return spec.exitCode?.(res.body, a) ?? EXIT_OK;
}

/**
 * printAnswer rendered in full before anything reaches `io`, so a renderer that throws leaves no
 * half output behind (a fast path then falls back to the full CLI, which prints it all again).
 */
export function printAnswerWhole(spec: CommandSpec, a: Args, json: boolean, res: ApiResponse, io: Io): number {
  const printed: Array<["out" | "err", string]> = [];
  const code = printAnswer(spec, a, json, res, { out: (t) => printed.push(["out", t]), err: (t) => printed.push(["err", t]) });
  for (const [stream, text] of printed) io[stream](text);
  return code;
}
