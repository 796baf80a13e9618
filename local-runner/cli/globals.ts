// The options every command takes and what they settle into (the home, the server, the token).
// Shared by the full CLI (main.ts, connect.ts) and the fast path for read commands (fast.ts), so
// both pick the same home, server and token.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { HOME_DIR_NAME, HomeNotDirectoryError, locateHome, readOwnerTokenFile, resolveHome, type LocatedHome } from "../home.ts";
import { HintedError, type CommandSpec, type GlobalOptions, type OptionSpec } from "./spec.ts";

/** Flags every command accepts, before or after its name. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: { type: "string", value: "URL", description: "Call a running server over HTTP (default: $SWITCHYARD_URL, else in-process on the home's database)" },
  token: { type: "string", value: "TOKEN", description: "Bearer token for --url (default: $SWITCHYARD_TOKEN, else <home>/owner.token)" },
  home: { type: "string", value: "DIR", description: `State directory (default: $SWITCHYARD_HOME, else the nearest ${HOME_DIR_NAME}/ here or above)` },
  json: { type: "boolean", description: "Print the wire JSON" },
};

/** The global options as typed, merged with the environment. */
export function globalsFrom(o: { url?: unknown; token?: unknown; home?: unknown; json?: unknown }, env: NodeJS.ProcessEnv): GlobalOptions {
  // An empty variable counts as unset, so `SWITCHYARD_URL=` switches HTTP off.
  return {
    url: (o.url as string | undefined) || env.SWITCHYARD_URL || undefined,
    token: (o.token as string | undefined) || env.SWITCHYARD_TOKEN || undefined,
    home: (o.home as string | undefined) || undefined,
    json: o.json === true,
  };
}

/** Finds the home for a command, or says how to make one. */
export function settleHome(spec: CommandSpec, g: GlobalOptions, cwd: string, env: NodeJS.ProcessEnv = process.env): GlobalOptions {
  const located: LocatedHome | null = locateHome(env, { home: g.home, cwd });
  const mode = spec.home ?? "required";
  if (located?.exists) return { ...g, home: located.path };
  if (mode === "none") return { ...g, home: undefined };
  if (mode === "create") return { ...g, home: located?.path ?? join(cwd, HOME_DIR_NAME) };
  // Over HTTP the server has the state; a token is all this side needs.
  if (g.url && !spec.local) return { ...g, home: undefined };
  if (located) {
    if (existsSync(located.path)) throw new HomeNotDirectoryError(located.path);
    const from = located.source === "flag" ? "--home" : "$SWITCHYARD_HOME";
    throw new HintedError(
      `no switchyard home at ${located.path} (named by ${from})`,
      `Create it with 'switchyard init --home ${located.path}', or point ${from} at an existing home.`,
    );
  }
  throw new HintedError(
    `no switchyard home: no ${HOME_DIR_NAME}/ directory in ${cwd} or any parent`,
    "Run 'switchyard init' here (or 'switchyard up'), or set SWITCHYARD_HOME to a home or SWITCHYARD_URL to a running server.",
  );
}

/** The bearer token for a call to `g.url`: --token / $SWITCHYARD_TOKEN, else the home's owner token. */
export function urlToken(g: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string | null {
  return g.token ?? (g.home ? readOwnerTokenFile(resolveHome(env, { home: g.home })) : null);
}
