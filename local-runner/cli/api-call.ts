import { readOwnerTokenFile, resolveHome } from "../home.ts";
import { openLocalServices } from "../services.ts";
import type { GlobalOptions } from "./spec.ts";
import { HttpTransport, InProcessTransport, type ApiRequest, type ApiResponse, type Transport } from "./transport.ts";

/**
 * The transport a local command uses for its API calls: the same choice the CLI makes for
 * request specs (HTTP with --url, else in-process over the local database, as the given token
 * or the owner).
 */
export async function transportFor(g: GlobalOptions): Promise<Transport> {
  if (g.url) return new HttpTransport(g.url, g.token ?? readOwnerTokenFile(resolveHome(process.env, { home: g.home })));
  return new InProcessTransport(await openLocalServices({ home: resolveHome(process.env, { home: g.home }) }), g.token ?? null);
}

/** Sends one request over a fresh transport and closes it. */
export async function callOnce(g: GlobalOptions, req: ApiRequest): Promise<ApiResponse> {
  const t = await transportFor(g);
  try {
    return await t.send(req);
  } finally {
    await t.close();
  }
}

/** Prints an API answer the way request specs are printed: wire JSON with --json, else rendered or the error. */
export function printAnswer(g: GlobalOptions, res: ApiResponse, render: (body: any) => string): void {
  const ok = res.status >= 200 && res.status < 300;
  if (g.json) process.stdout.write(`${JSON.stringify(res.body, null, 2)}\n`);
  else if (ok) process.stdout.write(`${render(res.body)}\n`);
  else {
    const e = res.body?.error ?? { code: "INTERNAL", message: `HTTP ${res.status}` };
    process.stderr.write(`error: ${e.code}: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ""}\n`);
  }
}

/**
 * Sends a request whose answer carries a verdict, prints it, and exits 1 when the call failed
 * or the verdict is negative (a denied permission, a blocked loop), 0 otherwise.
 */
export async function verdictCall(g: GlobalOptions, req: ApiRequest, render: (body: any) => string, positive: (body: any) => boolean): Promise<number> {
  const res = await callOnce(g, req);
  printAnswer(g, res, render);
  const ok = res.status >= 200 && res.status < 300;
  return ok && positive(res.body) ? 0 : 1;
}
