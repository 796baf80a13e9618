import type { Logger } from "../../functions/lib/ctx.ts";
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
  const services = await openLocalServices({ home: resolveHome(process.env, { home: g.home }) });
  // In-process, "the server logged the details" of an internal error means this stderr.
  services.log ??= inProcessErrorLog;
  return new InProcessTransport(services, g.token ?? null);
}

/** A logger for in-process commands: errors only (a bug or a database fault), one line each on stderr. */
export const inProcessErrorLog: Logger = {
  info() {},
  warn() {},
  error(msg, data) {
    const detail = typeof data?.error === "string" ? `: ${data.error.split("\n")[0]}` : "";
    process.stderr.write(`switchyard: ${msg}${detail}\n`);
  },
};
