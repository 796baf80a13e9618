import { readOwnerTokenFile, resolveHome } from "../home.ts";
import { openLocalServices } from "../services.ts";
import type { GlobalOptions } from "./spec.ts";
import { HttpTransport, InProcessTransport, type ApiRequest, type ApiResponse, type Transport } from "./transport.ts";

/**
 * Opens the transport a command would use (HTTP with --url, else in-process on the local
 * database) for `local` commands that make several calls or choose their own exit code.
 */
export async function withTransport<T>(g: GlobalOptions, fn: (t: Transport) => Promise<T>): Promise<T> {
  let transport: Transport;
  if (g.url) transport = new HttpTransport(g.url, g.token ?? readOwnerTokenFile(resolveHome(process.env, { home: g.home })));
  else transport = new InProcessTransport(await openLocalServices({ home: resolveHome(process.env, { home: g.home }) }), g.token ?? null);
  try {
    return await fn(transport);
  } finally {
    await transport.close();
  }
}

/** Prints an error envelope the way the CLI does for every command. */
export function errorText(res: ApiResponse): string {
  const e = res.body?.error ?? { code: "INTERNAL", message: `HTTP ${res.status}` };
  return `error: ${e.code}: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ""}`;
}

/** Writes a line to stdout (local commands print directly, like dispatch and up). */
export function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

/** Writes a line to stderr. */
export function err(text: string): void {
  process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
}

/**
 * One API call whose exit code depends on the answer: prints the JSON (--json) or the
 * rendering, or the error; returns `verdict(body)` for a 2xx answer and 1 otherwise.
 */
export async function callWithVerdict(g: GlobalOptions, req: ApiRequest, render: (body: any) => string, verdict: (body: any) => number): Promise<number> {
  return withTransport(g, async (t) => {
    const res = await t.send(req);
    const ok = res.status >= 200 && res.status < 300;
    if (g.json) out(JSON.stringify(res.body, null, 2));
    else if (ok) out(render(res.body));
    else err(errorText(res));
    return ok ? verdict(res.body) : 1;
  });
}
