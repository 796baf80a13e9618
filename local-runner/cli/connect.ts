import { resolveHome } from "../home.ts";
import { urlToken } from "./globals.ts";
import { HintedError, type GlobalOptions } from "./spec.ts";
import type { Transport } from "./transport.ts";

/** Chooses HTTP when a URL is given, else the in-process app over the home's database. */
export async function openTransport(g: GlobalOptions): Promise<Transport> {
  // Loaded on demand: the app and the database driver are most of the CLI's start-up cost, and
  // a call over HTTP needs neither.
  if (g.url) {
    const { HttpTransport } = await import("./transport.ts");
    const token = urlToken(g);
    if (!token) {
      throw new HintedError(`no token to call ${g.url}`, "Pass --token, set SWITCHYARD_TOKEN, or run inside the home whose owner.token that server accepts.");
    }
    return new HttpTransport(g.url, token);
  }
  const [{ InProcessTransport }, { openLocalServices }] = await Promise.all([import("./in-process-transport.ts"), import("../services.ts")]);
  // A given token (a spawned agent's SWITCHYARD_TOKEN) is used in-process too, so an agent
  // sharing the owner's home still acts as itself.
  return new InProcessTransport(await openLocalServices({ home: resolveHome(process.env, { home: g.home }) }), g.token ?? null);
}
