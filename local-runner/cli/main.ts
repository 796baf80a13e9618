import { parseArgs } from "node:util";
import { resolveHome, readOwnerTokenFile } from "../home.ts";
import { openLocalServices, OwnerTokenError } from "../services.ts";
import { APP_COMMANDS } from "./app-commands.ts";
import { BROKER_COMMANDS } from "./broker-commands.ts";
import { BROKER_RUN_COMMANDS } from "./broker-run-commands.ts";
import { API_COMMANDS, renderDefault } from "./commands.ts";
import { DISPATCH_COMMANDS } from "./dispatch-commands.ts";
import { LOCAL_COMMANDS } from "./local-commands.ts";
import { MESSAGE_COMMANDS } from "./messages-commands.ts";
import { OBSERVE_COMMANDS, SPAWN_COMMANDS } from "./observe-commands.ts";
import { LOOPS_COMMANDS } from "./loops-commands.ts";
import { SUPERVISION_COMMANDS } from "./supervision-commands.ts";
import { UsageError, type Args, type CommandSpec, type GlobalOptions, type OptionSpec } from "./spec.ts";
import { HttpTransport, InProcessTransport, type Transport } from "./transport.ts";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: { type: "string", value: "URL", description: "Talk to a running server (default: in-process, or $SWITCHYARD_URL)" },
  token: { type: "string", value: "TOKEN", description: "Bearer token for --url (default: $SWITCHYARD_TOKEN, else <home>/owner.token)" },
  home: { type: "string", value: "DIR", description: "State directory (default: $SWITCHYARD_HOME or ./.switchyard)" },
  json: { type: "boolean", description: "Print the wire JSON" },
  help: { type: "boolean", description: "Show help" },
};

/** Every command, API-backed and local. */
export const ALL_COMMANDS: CommandSpec[] = [
  ...LOCAL_COMMANDS,
  ...API_COMMANDS,
  ...OBSERVE_COMMANDS,
  ...SPAWN_COMMANDS,
  ...DISPATCH_COMMANDS,
  ...APP_COMMANDS,
  ...MESSAGE_COMMANDS,
  ...BROKER_RUN_COMMANDS,
  ...BROKER_COMMANDS,
  ...SUPERVISION_COMMANDS,
  ...LOOPS_COMMANDS,
];

/** Finds the command named by the first one or two words of argv. */
export function findCommand(argv: string[]): { spec: CommandSpec; rest: string[] } | null {
  const byName = (n: string) => ALL_COMMANDS.find((c) => c.name === n || c.aliases?.includes(n));
  if (argv.length >= 2) {
    const two = byName(`${argv[0]} ${argv[1]}`);
    if (two) return { spec: two, rest: argv.slice(2) };
  }
  const one = argv[0] ? byName(argv[0]) : undefined;
  return one ? { spec: one, rest: argv.slice(1) } : null;
}

function optionUsage(name: string, o: OptionSpec): string {
  const left = `--${name}${o.type === "string" ? ` ${o.value ?? "VALUE"}` : ""}${o.multiple ? " (repeatable)" : ""}`;
  return `  ${left.padEnd(34)} ${o.description}`;
}

/** Help text for one command. */
export function commandHelp(spec: CommandSpec): string {
  const pos = (spec.positionals ?? []).map((p) => (p.required ? p.name : `[${p.name}]`)).join(" ");
  const lines = [`switchyard ${spec.name}${pos ? ` ${pos}` : ""} [options]`, "", spec.summary];
  if (spec.aliases?.length) lines.push("", `Aliases: ${spec.aliases.join(", ")}`);
  if (spec.positionals?.length) {
    lines.push("", "Arguments:");
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(34)} ${p.description}${p.required ? "" : " (optional)"}`);
  }
  const own = Object.entries(spec.options ?? {});
  if (own.length) {
    lines.push("", "Options:");
    for (const [n, o] of own) lines.push(optionUsage(n, o));
  }
  lines.push("", "Global options:");
  for (const [n, o] of Object.entries(GLOBAL_OPTIONS)) lines.push(optionUsage(n, o));
  if (spec.examples?.length) lines.push("", "Examples:", ...spec.examples.map((e) => `  ${e}`));
  lines.push("", "Exit codes: 0 ok, 1 failed, 2 usage error.");
  return lines.join("\n");
}

/** The top-level help listing every command. */
export function mainHelp(): string {
  const width = Math.max(...ALL_COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "switchyard — control plane for teams of AI coding-agent sessions",
    "",
    "Usage: switchyard <command> [options]     (switchyard <command> --help for details)",
    "",
    "Commands:",
    ...ALL_COMMANDS.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`),
    "",
    "By default commands run in-process against the local database as the owner;",
    "with --url (or $SWITCHYARD_URL) they call a running server over HTTP.",
  ].join("\n");
}

/** Output sink, replaceable in tests. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
};

function parseCommandArgs(spec: CommandSpec, rest: string[]): { args: Args; globals: GlobalOptions & { help: boolean } } {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const [n, o] of Object.entries({ ...GLOBAL_OPTIONS, ...(spec.options ?? {}) })) options[n] = { type: o.type, multiple: o.multiple === true };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ""));
  }
  const values = parsed.values as Args["values"];
  const globals = {
    url: (values.url as string | undefined) ?? process.env.SWITCHYARD_URL ?? undefined,
    token: (values.token as string | undefined) ?? process.env.SWITCHYARD_TOKEN ?? undefined,
    home: values.home as string | undefined,
    json: values.json === true,
    help: values.help === true,
  };
  const max = spec.positionals?.length ?? 0;
  if (!globals.help) {
    if (parsed.positionals.length > max) throw new UsageError(`unexpected argument '${parsed.positionals[max]}'`);
    const missing = (spec.positionals ?? []).find((p, i) => p.required && parsed.positionals[i] === undefined);
    if (missing) throw new UsageError(`missing argument ${missing.name}`);
  }
  return { args: { values, positionals: parsed.positionals }, globals };
}

/** Chooses HTTP when a URL is given, else the in-process app over the local database. */
export async function openTransport(g: GlobalOptions): Promise<Transport> {
  if (g.url) {
    const token = g.token ?? readOwnerTokenFile(resolveHome(process.env, { home: g.home }));
    return new HttpTransport(g.url, token);
  }
  // A given token (a spawned agent's SWITCHYARD_TOKEN) is used in-process too, so an agent
  // sharing the owner's home still acts as itself.
  return new InProcessTransport(await openLocalServices({ home: resolveHome(process.env, { home: g.home }) }), g.token ?? null);
}

/** Runs the CLI and returns its exit code. */
export async function runCli(argv: string[], io: Io = processIo): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    io.out(mainHelp());
    return argv.length === 0 ? EXIT_USAGE : EXIT_OK;
  }
  const found = findCommand(argv);
  if (!found) {
    io.err(`error: unknown command '${argv[0]}'\nhint: run 'switchyard --help' for the list of commands`);
    return EXIT_USAGE;
  }
  const { spec, rest } = found;
  let parsed;
  try {
    parsed = parseCommandArgs(spec, rest);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}\nhint: run 'switchyard ${spec.name} --help'`);
      return EXIT_USAGE;
    }
    throw e;
  }
  const { args, globals } = parsed;
  if (globals.help) {
    io.out(commandHelp(spec));
    return EXIT_OK;
  }
  try {
    if (spec.local) return await spec.local(args, globals);
    const request = spec.request!(args);
    const transport = await openTransport(globals);
    try {
      const res = await transport.send(request);
      const ok = res.status >= 200 && res.status < 300;
      // Agents parse stdout, so --json prints the error envelope there too; the exit code says which.
      if (globals.json) io.out(JSON.stringify(res.body, null, 2));
      else if (ok) io.out((spec.render ?? renderDefault)(res.body, args));
      else {
        const e = res.body?.error ?? { code: "INTERNAL", message: `HTTP ${res.status}` };
        io.err(`error: ${e.code}: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ""}`);
      }
      return ok ? EXIT_OK : EXIT_FAILED;
    } finally {
      await transport.close();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}\nhint: run 'switchyard ${spec.name} --help'`);
      return EXIT_USAGE;
    }
    if (e instanceof OwnerTokenError) {
      io.err(`error: ${e.message}\nhint: ${e.hint}`);
      return EXIT_FAILED;
    }
    io.err(`error: ${(e as Error).message}`);
    return EXIT_FAILED;
  }
}
