// The fast path for read commands. bin/switchyard.mjs tries it before it loads the full CLI
// (commander, every command, and for an in-process call the app and the database driver): when
// the command line is one of a few reads with plain flags and a server can answer it (--url /
// $SWITCHYARD_URL, or the `switchyard up` running on the home), it sends one GET and prints the
// answer through the same spec, renderer and printer as the full CLI. Anything else returns null
// and the full CLI runs as if this did not exist, so every error message stays the full CLI's.
// It is bundled on its own (dist/switchyard-fast.cjs): it must stay a few small modules.
import { connect } from "node:net";
import { readOwnerTokenFile, resolveHome } from "../home.ts";
import { verifiedUp } from "../up-record.ts";
import { API_COMMANDS } from "./commands.ts";
import { GLOBAL_OPTIONS, globalsFrom, settleHome, urlToken } from "./globals.ts";
import { withConnection } from "./paging.ts";
import { MESSAGE_COMMANDS } from "./messages-commands.ts";
import { type Io, printAnswerWhole, processIo } from "./output.ts";
import { type Args, checkChoices, type CommandSpec, type GlobalOptions, type OptionSpec } from "./spec.ts";
import { type ApiRequest, type ApiResponse, buildPath, parseBody } from "./transport.ts";

/** The commands the fast path may answer; only their GET forms (`tasks --create` is not one). */
export const FAST_COMMANDS = [
  "sessions",
  "session show",
  "tasks",
  "task show",
  "bindings",
  "discover",
  "audit",
  "messages",
  "session-inbox",
  "manager-inbox",
  "worker-inbox",
] as const;

const SPECS: CommandSpec[] = [...API_COMMANDS, ...MESSAGE_COMMANDS].filter((s) => (FAST_COMMANDS as readonly string[]).includes(s.name));

/** A command line the fast path understood: the spec, its arguments as the full CLI would pass them, and the global options typed. */
export interface FastCommand {
  spec: CommandSpec;
  args: Args;
  globals: Record<string, string | true>;
}

/** The spec whose name (or alias) starts at argv[i], with how many words it took. */
function commandAt(argv: string[], i: number): { spec: CommandSpec; words: number } | null {
  for (const spec of SPECS) {
    for (const name of [spec.name, ...(spec.aliases ?? [])]) {
      const words = name.split(" ");
      if (words.every((w, k) => argv[i + k] === w)) return { spec, words: words.length };
    }
  }
  return null;
}

/**
 * Reads the option at argv[i] into `into` when `defs` declares it, the way commander would;
 * returns how many words it took, or 0 for anything the fast path leaves to commander (an
 * unknown option, a value that looks like an option, a repeated single-valued option, `--no-x`).
 */
function readOption(argv: string[], i: number, defs: Record<string, OptionSpec>, into: Record<string, string | string[] | true>): number {
  const word = argv[i]!;
  if (!word.startsWith("--") || word === "--") return 0;
  const eq = word.indexOf("=");
  const name = word.slice(2, eq < 0 ? undefined : eq);
  const def = Object.hasOwn(defs, name) ? defs[name] : undefined;
  if (!def || name.startsWith("no-")) return 0;
  if (def.type === "boolean") {
    if (eq >= 0) return 0;
    into[name] = true;
    return 1;
  }
  const value = eq >= 0 ? word.slice(eq + 1) : argv[i + 1];
  if (value === undefined || value.startsWith("-")) return 0;
  const prev = into[name];
  if (prev !== undefined && !def.multiple) return 0;
  into[name] = def.multiple ? [...((prev as string[] | undefined) ?? []), value] : value;
  return eq >= 0 ? 1 : 2;
}

/**
 * Parses a command line the fast path can answer, or returns null: global options, then one of
 * FAST_COMMANDS, then its options (and the global ones) and positionals in any order.
 */
export function parseFast(argv: string[]): FastCommand | null {
  const globals: Record<string, string | string[] | true> = {};
  const own: Record<string, string | string[] | true> = {};
  const positionals: string[] = [];
  let spec: CommandSpec | undefined;
  for (let i = 0; i < argv.length; ) {
    const word = argv[i]!;
    if (!spec) {
      // Before the command only the global options are allowed.
      const n = word.startsWith("-") ? readOption(argv, i, GLOBAL_OPTIONS, globals) : 0;
      if (n) {
        i += n;
        continue;
      }
      const found = word.startsWith("-") ? null : commandAt(argv, i);
      if (!found) return null;
      spec = found.spec;
      i += found.words;
      continue;
    }
    if (word.startsWith("-")) {
      // A command's own option wins over a global of the same name, as in commander.
      const options = spec.options ?? {};
      const n = Object.hasOwn(options, word.slice(2).split("=")[0]!) ? readOption(argv, i, options, own) : readOption(argv, i, GLOBAL_OPTIONS, globals);
      if (!n) return null;
      i += n;
      continue;
    }
    positionals.push(word);
    i++;
  }
  if (!spec) return null;
  const declared = spec.positionals ?? [];
  if (positionals.length < declared.filter((p) => p.required).length || positionals.length > declared.length) return null;
  // The keys in the spec's order, as the full CLI builds them: a next-page hint repeats them in this order.
  const values: Args["values"] = {};
  for (const name of Object.keys(spec.options ?? {})) values[name] = own[name];
  return { spec, args: { values, positionals }, globals: globals as Record<string, string | true> };
}

/**
 * A command line the fast path covers that only reads and answers at once: one of
 * FAST_COMMANDS in its GET form, without a wait (a long poll prints a waiting line and may
 * outlive a server). Null for anything else, a bad value included (the full CLI reports it):
 * a value outside an option's choices too, checked as the full CLI checks it, so it never reaches a server.
 */
export function parseRead(argv: string[]): FastCommand | null {
  const cmd = parseFast(argv);
  if (!cmd) return null;
  try {
    checkChoices(cmd.spec.options, cmd.args);
    return cmd.spec.request!(cmd.args).method === "GET" && !cmd.spec.waitingFor?.(cmd.args) ? cmd : null;
  } catch {
    return null;
  }
}

/**
 * The server to ask and the token to show it: --url / $SWITCHYARD_URL with the token the full
 * CLI would send there; else the `up` recorded in the home, when it serves the same file
 * database as the same host (what the full CLI would open in-process), with the token the full
 * CLI would act as in-process. Null when neither applies.
 */
function serverFor(g: GlobalOptions, env: NodeJS.ProcessEnv): { url: string; token: string; recorded: boolean } | null {
  if (g.url) {
    const token = urlToken(g, env);
    return token ? { url: g.url, token, recorded: false } : null;
  }
  if (!g.home) return null;
  // Only an `up` proven to be the process that wrote the record: after it died, its pid may be
  // another program's and its port anyone's, and that listener must never see the token.
  const up = verifiedUp(g.home);
  if (!up) return null;
  const cfg = resolveHome(env, { home: g.home });
  if (up.db !== cfg.dbUrl || up.host !== cfg.hostName) return null;
  const token = g.token ?? readOwnerTokenFile(cfg);
  return token ? { url: up.url, token, recorded: true } : null;
}

/** The body of an HTTP/1.1 chunked message, or null when the framing is not what it should be. */
function unchunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  for (let at = 0; ; ) {
    const eol = data.indexOf("\r\n", at);
    if (eol < 0) return null;
    const size = Number.parseInt(data.toString("latin1", at, eol).split(";")[0]!, 16);
    if (!Number.isInteger(size) || size < 0) return null;
    if (size === 0) return Buffer.concat(parts);
    if (eol + 2 + size > data.length) return null;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/**
 * The wire answer from an HTTP/1.1 response read to the end, or null for anything but a
 * complete response (status line, headers, a body of the length announced).
 */
export function parseHttpResponse(data: Buffer): ApiResponse | null {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine, ...headerLines] = data.toString("latin1", 0, end).split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine!)?.[1];
  if (!status) return null;
  const headers = new Map(headerLines.map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  let body: Buffer | null = data.subarray(end + 4);
  if (headers.has("transfer-encoding")) body = headers.get("transfer-encoding")!.toLowerCase() === "chunked" ? unchunk(body) : null;
  else if (headers.has("content-length")) body = body.length === Number(headers.get("content-length")) ? body : null;
  return body ? parseBody(Number(status), body.toString("utf8")) : null;
}

/** How long the fast path waits for a silent server before leaving the read to the full CLI. */
const READ_IDLE_MS = 5000;

/**
 * One GET to a plain-HTTP server over a bare TCP connection, read until the server closes it
 * (`Connection: close`); null when the connection fails or the answer is not a complete
 * response. node:net rather than node:http: loading and first use of Node's HTTP client cost
 * about 4 ms of CPU, a tenth of what starting Node costs, and this is the whole budget of a
 * read. Anything unusual falls back to the full CLI, whose HttpTransport uses node:http.
 */
function get(base: string, request: ApiRequest, token: string): Promise<ApiResponse | null> {
  // Relative to the base, as HttpTransport builds it, so a server under a path prefix keeps it.
  const url = new URL(buildPath(request).slice(1), base.endsWith("/") ? base : `${base}/`);
  // A token node:http would refuse as a header value is the full CLI's error to report.
  if (url.protocol !== "http:" || url.username || url.password || !/^[\x21-\x7e]+$/.test(token)) return Promise.resolve(null);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(url.port || 80) });
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => resolve(null));
    // A listener that accepts and never answers (a wedged up, or another program on a recorded
    // port) must not hang a read: the full CLI then answers (in-process for a recorded up).
    socket.setTimeout(READ_IDLE_MS, () => {
      socket.destroy();
      resolve(null);
    });
    socket.on("end", () => {
      socket.end();
      resolve(parseHttpResponse(Buffer.concat(chunks)));
    });
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
  });
}

/**
 * Answers a read command through a running server and returns its exit code, or null when the
 * full CLI must run instead: a command line it does not cover, no server to ask, a server that
 * cannot be reached, is busy (429) or failed (5xx), or any error at all.
 */
export async function runFast(argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; io?: Io } = {}): Promise<number | null> {
  const env = opts.env ?? process.env;
  try {
    const cmd = parseRead(argv);
    if (!cmd) return null;
    const g = settleHome(cmd.spec, globalsFrom(cmd.globals, env), opts.cwd ?? process.cwd(), env);
    const request = cmd.spec.request!(cmd.args);
    const server = serverFor(g, env);
    if (!server) return null;
    const res = await get(server.url, request, server.token);
    if (!res || res.status === 429 || res.status >= 500) return null;
    // A recorded server that does not know the home's token may not be that home's server any
    // more (its process died without removing the record and the port was taken): in-process
    // answers for sure, and says the same if the token really is wrong.
    if (server.recorded && res.status === 401) return null;
    return printAnswerWhole(cmd.spec, withConnection(cmd.args, cmd.globals, g), g.json, res, opts.io ?? processIo);
  } catch {
    return null;
  }
}
