import { openTransport } from "./connect.ts";
import { terminalSafe } from "./output.ts";
import type { GlobalOptions } from "./spec.ts";
import type { ApiRequest, ApiResponse, Transport } from "./transport.ts";

/*
 * Helpers for `local` commands: commands that make several API calls, or choose their own exit
 * code from the answer. They open the same transport request specs use (connect.ts).
 */

/** Runs `fn` over the command's transport and closes it afterwards. */
export async function withTransport<T>(g: GlobalOptions, fn: (t: Transport) => Promise<T>): Promise<T> {
  const transport = await openTransport(g);
  try {
    return await fn(transport);
  } finally {
    await transport.close();
  }
}

/** Sends one request over a fresh transport and closes it. */
export async function callOnce(g: GlobalOptions, req: ApiRequest): Promise<ApiResponse> {
  return withTransport(g, (t) => t.send(req));
}

/** The error envelope as the CLI prints it for every command. */
export function errorText(res: ApiResponse): string {
  const e = res.body?.error ?? { code: "INTERNAL", message: `HTTP ${res.status}` };
  return terminalSafe(`error: ${e.code}: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ""}`);
}

/** Writes a line to stdout (local commands print directly, like dispatch and up). */
export function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

/** Writes a line to stderr. */
export function err(text: string): void {
  process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
}

/** Prints an answer the way request specs are printed: wire JSON with --json, else rendered, or the error. */
export function printAnswer(g: GlobalOptions, res: ApiResponse, render: (body: any) => string): void {
  const ok = res.status >= 200 && res.status < 300;
  // Human text shows control characters as \xNN (an answer carries what agents wrote); --json stays the wire body.
  if (g.json) out(JSON.stringify(res.body, null, 2));
  else if (ok) out(terminalSafe(render(res.body)));
  else err(errorText(res));
}

/**
 * One API call whose exit code depends on the answer: prints it, and returns `verdict(body)` for
 * a 2xx answer and 1 otherwise.
 */
export async function callWithVerdict(g: GlobalOptions, req: ApiRequest, render: (body: any) => string, verdict: (body: any) => number): Promise<number> {
  const res = await callOnce(g, req);
  printAnswer(g, res, render);
  return res.status >= 200 && res.status < 300 ? verdict(res.body) : 1;
}

/**
 * A call whose answer carries a yes/no verdict (a permission, a loop guardrail): exits 1 when the
 * call failed or the verdict is negative, 0 otherwise.
 */
export async function verdictCall(g: GlobalOptions, req: ApiRequest, render: (body: any) => string, positive: (body: any) => boolean): Promise<number> {
  return callWithVerdict(g, req, render, (b) => (positive(b) ? 0 : 1));
}
