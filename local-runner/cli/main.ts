import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { HOME_DIR_NAME } from "../home.ts";
import { APP_COMMANDS } from "./app-commands.ts";
import { BROKER_COMMANDS } from "./broker-commands.ts";
import { BROKER_RUN_COMMANDS } from "./broker-run-commands.ts";
import { API_COMMANDS } from "./commands.ts";
import { COORDINATION_COMMANDS } from "./coordination-commands.ts";
import { DISPATCH_COMMANDS } from "./dispatch-commands.ts";
import { openTransport } from "./connect.ts";
import { HOOKS_COMMANDS } from "./hooks-commands.ts";
import { INTEGRATION_COMMANDS } from "./integration-commands.ts";
import { LOCAL_COMMANDS } from "./local-commands.ts";
import { MESSAGE_COMMANDS } from "./messages-commands.ts";
import { OBSERVABILITY_COMMANDS } from "./observability-commands.ts";
import { OBSERVE_COMMANDS, SPAWN_COMMANDS } from "./observe-commands.ts";
import { parseRead } from "./fast.ts";
import { GLOBAL_OPTIONS, globalsFrom, settleHome } from "./globals.ts";
import { withConnection } from "./paging.ts";
import { type Io, printAnswer, processIo } from "./output.ts";
import {
  checkChoices,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  optionHelp,
  UsageError,
  type Args,
  type CommandSpec,
  type GlobalOptions,
  type OptionSpec,
} from "./spec.ts";
import { VERSION } from "./version.ts";
import { PATROL_COMMANDS } from "./patrol-commands.ts";
import { VERDICT_COMMANDS } from "./verdict-commands.ts";
import { LOOPS_COMMANDS } from "./loops-commands.ts";
import { SERVICE_COMMANDS } from "./service-commands.ts";
import { SUPERVISION_COMMANDS } from "./supervision-commands.ts";
import { TOKEN_COMMANDS } from "./token-commands.ts";

export { openTransport } from "./connect.ts";
export { type Io, renderDefault } from "./output.ts";
export { EXIT_FAILED, EXIT_OK, EXIT_TIMED_OUT, EXIT_USAGE } from "./spec.ts";

/** Fills in the help section of specs that do not name one. */
function inGroup(group: string, specs: CommandSpec[]): CommandSpec[] {
  return specs.map((s) => (s.group ? s : { ...s, group }));
}

/** Every command, API-backed and local. */
export const ALL_COMMANDS: CommandSpec[] = [
  ...LOCAL_COMMANDS,
  ...API_COMMANDS,
  ...TOKEN_COMMANDS,
  ...OBSERVE_COMMANDS,
  ...inGroup("sessions", SPAWN_COMMANDS),
  ...inGroup("queue", DISPATCH_COMMANDS),
  ...inGroup("app", APP_COMMANDS),
  ...inGroup("messages", MESSAGE_COMMANDS),
  ...inGroup("broker", BROKER_RUN_COMMANDS),
  ...inGroup("broker", BROKER_COMMANDS),
  ...inGroup("patrol", PATROL_COMMANDS),
  ...inGroup("coordination", COORDINATION_COMMANDS),
  ...inGroup("coordination", VERDICT_COMMANDS),
  ...inGroup("supervision", SUPERVISION_COMMANDS),
  ...inGroup("loops", LOOPS_COMMANDS),
  ...inGroup("setup", SERVICE_COMMANDS),
  ...inGroup("audit", OBSERVABILITY_COMMANDS),
  ...HOOKS_COMMANDS,
  ...INTEGRATION_COMMANDS,
];

/** Help sections in the order `switchyard --help` lists them; other groups follow in order of appearance. */
const SECTIONS: Record<string, string> = {
  setup: "Set up and run",
  sessions: "Sessions and agents",
  tasks: "Tasks and bindings",
  observe: "Watch",
  actuate: "Act on panes",
  messages: "Messages and inboxes",
  queue: "Command queue",
  app: "App (no-tmux) loops",
  broker: "Advice broker",
  orchestrator: "Orchestrator",
  audit: "Audit, replay, telemetry and export",
  hooks: "Agent hooks, skills and MCP",
};

/** Descriptions of the words that only group subcommands (`switchyard broker` lists them). */
const GROUP_WORDS: Record<string, string> = {
  broker: "Advice broker: requests, drafts, approvals, runs and the daemon",
  orchestrator: "Orchestrator jobs that turn advice requests into drafts",
  token: "API tokens: mint, list, revoke",
  cron: "Crons: list them, run one now",
  service: "Run up, or this machine's runner, as a systemd --user service or launchd agent: install, status, uninstall",
  session: "One session in detail",
  task: "One task in detail",
  telemetry: "Telemetry: the stream, task triage, failures, metrics, snapshots",
  hooks: "Agent hooks: install them into Claude Code or Codex, see what they report",
  mcp: "Register Switchyard's MCP endpoint with Claude Code or Codex",
};

function sectionOf(spec: CommandSpec): string {
  return spec.group ?? "other";
}

function sectionTitle(group: string): string {
  return SECTIONS[group] ?? `${group.charAt(0).toUpperCase()}${group.slice(1)}`;
}

function usageOf(spec: CommandSpec): string {
  const pos = (spec.positionals ?? []).map((p) => (p.required ? p.name : `[${p.name}]`)).join(" ");
  return pos ? `${spec.name} ${pos}` : spec.name;
}

/** The top-level help: every command, grouped by area. */
export function mainHelp(): string {
  const order = [...Object.keys(SECTIONS), ...ALL_COMMANDS.map(sectionOf)].filter((g, i, all) => all.indexOf(g) === i);
  const width = Math.min(44, Math.max(...ALL_COMMANDS.map((c) => usageOf(c).length)) + 2);
  const lines = [
    "switchyard — control plane for teams of AI coding-agent sessions",
    "",
    "Usage: switchyard <command> [options]     (switchyard <command> --help for details)",
  ];
  for (const group of order) {
    const specs = ALL_COMMANDS.filter((c) => sectionOf(c) === group);
    if (!specs.length) continue;
    lines.push("", `${sectionTitle(group)}:`);
    for (const c of specs) {
      const usage = usageOf(c);
      lines.push(usage.length < width ? `  ${usage.padEnd(width)} ${c.summary}` : `  ${usage}\n  ${"".padEnd(width)} ${c.summary}`);
    }
  }
  lines.push(
    "",
    "Global options:",
    ...Object.entries(GLOBAL_OPTIONS).map(([n, o]) => `  ${`--${n}${o.type === "string" ? ` ${o.value}` : ""}`.padEnd(16)} ${o.description}`),
    `  ${"-V, --version".padEnd(16)} Print the version`,
    "",
    `Home: --home, else $SWITCHYARD_HOME, else the nearest ${HOME_DIR_NAME}/ in this directory or a parent`,
    "(the way git finds .git). Only `init` and `up` create one; with --url no home is needed.",
    "Exit codes: 0 ok, 1 failed or a negative answer, 2 usage error; some commands add their own (see --help).",
  );
  return lines.join("\n");
}

function exitCodesHelp(spec: CommandSpec): string {
  const codes: Record<number, string> = { 0: "ok", 1: "failed (an error, or an answer with a negative verdict)", 2: "usage error: nothing was done" };
  Object.assign(codes, spec.exitCodes ?? {});
  return ["Exit codes:", ...Object.entries(codes).map(([code, what]) => `  ${code}  ${what}`)].join("\n");
}

/** Options for one run of the CLI (tests point cwd somewhere else). */
export interface CliOptions {
  /** Where home discovery starts (default: the process's current directory). */
  cwd?: string;
  /**
   * Parse every command line with commander, reads included (tests compare the fast path's
   * parsing against it).
   */
  commanderOnly?: boolean;
}

/** Raised from commander's unknown-command hook; carries the words typed so far. */
class UnknownCommandError extends UsageError {
  constructor(
    readonly words: string[],
    readonly helpFor: string,
  ) {
    super(`unknown command '${words.join(" ")}'`);
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return row[b.length]!;
}

/**
 * The commands closest to what was typed: a small edit distance to the whole name or its last
 * word, or the typed word as one of the name's parts (`nudge` finds `session-nudge`).
 */
export function suggestCommands(typed: string, limit = 3): string[] {
  const word = typed.split(" ").at(-1)!;
  // Group words (`broker`) are candidates too, so `brokr` points at the group, not at one of its commands.
  const groups = ALL_COMMANDS.filter((s) => s.name.includes(" ")).map((s) => s.name.split(" ")[0]!);
  const prefix = typed.includes(" ") ? `${typed.slice(0, typed.lastIndexOf(" "))} ` : "";
  // Inside a group (`broker tokn`), only that group's commands.
  const names = [...new Set([...ALL_COMMANDS.flatMap((s) => [s.name, ...(s.aliases ?? [])]), ...groups])].filter((n) => n.startsWith(prefix));
  const scored: Array<[string, number]> = [];
  for (const name of names) {
    const last = name.split(" ").at(-1)!;
    let score = Math.min(editDistance(typed, name), editDistance(word, last) + (name.includes(" ") && !typed.includes(" ") ? 1 : 0));
    const parts = name.split(/[ -]/);
    if (word.length >= 3 && parts.includes(word)) score = Math.min(score, 1);
    else if (word.length >= 4 && parts.some((p) => editDistance(word, p) === 1)) score = Math.min(score, 2);
    if (score <= Math.max(2, Math.floor(word.length / 3))) scored.push([ALL_COMMANDS.find((s) => s.aliases?.includes(name))?.name ?? name, score]);
  }
  // Only the closest tier: one good guess reads better than three mediocre ones.
  const best = Math.min(...scored.map(([, n]) => n));
  return [
    ...new Set(
      scored
        .filter(([, n]) => n === best)
        .sort((x, y) => x[0].localeCompare(y[0]))
        .map(([n]) => n),
    ),
  ].slice(0, limit);
}

/** Turns commander's parsed options back into the spec's option names. */
function argsOf(cmd: Command, spec: CommandSpec): Args {
  const opts = cmd.opts();
  const values: Args["values"] = {};
  for (const name of Object.keys(spec.options ?? {})) {
    const option = cmd.options.find((o) => o.long === `--${name}`);
    if (!option) continue;
    const v = opts[option.attributeName()];
    // `--no-cron` is stored by commander as cron=false; the spec reads it as its own flag.
    if (name.startsWith("no-")) values[name] = v === false ? true : undefined;
    else values[name] = v === false ? undefined : v;
  }
  return { values, positionals: cmd.args.slice() };
}

function globalsOf(cmd: Command): GlobalOptions {
  return globalsFrom(cmd.optsWithGlobals(), process.env);
}

function addLeaf(leaf: Command, spec: CommandSpec, run: (spec: CommandSpec, cmd: Command) => Promise<void>): void {
  leaf.summary(spec.summary).description(spec.summary);
  for (const alias of spec.aliases ?? []) leaf.alias(alias);
  for (const p of spec.positionals ?? []) leaf.argument(p.required ? `<${p.name}>` : `[${p.name}]`, p.description);
  for (const [name, o] of Object.entries(spec.options ?? {})) {
    const help = optionHelp(o);
    const option = new Option(o.type === "string" ? `--${name} <${help.placeholder}>` : `--${name}`, `${help.description}${o.multiple ? " (repeatable)" : ""}`);
    if (o.type === "string") {
      // A missing value must not swallow the next option (`tasks --create --home X`).
      option.argParser((v: string, prev: unknown): unknown => {
        if (/^--[a-z]/.test(v) && leaf.options.some((x) => x.long === v.split("=")[0])) throw new InvalidArgumentError(`expected a value, got the option ${v}`);
        return o.multiple ? [...((prev as string[] | undefined) ?? []), v] : v;
      });
    }
    leaf.addOption(option);
  }
  leaf.showHelpAfterError(`hint: run 'switchyard ${spec.name} --help'`).showSuggestionAfterError(true);
  const after = [...(spec.examples?.length ? ["Examples:", ...spec.examples.map((e) => `  ${e}`), ""] : []), exitCodesHelp(spec)];
  leaf.addHelpText("after", `\n${after.join("\n")}`);
  leaf.action(async (...xs: unknown[]) => run(spec, xs.at(-1) as Command));
}

/** A command that only groups others: unknown words under it get our suggestions. */
function groupCommand(parent: Command, word: string, path: string[]): Command {
  const existing = parent.commands.find((c) => c.name() === word);
  if (existing) return existing;
  const group = parent
    .command(word)
    .summary(GROUP_WORDS[word] ?? `${word} commands`)
    .description(GROUP_WORDS[word] ?? `${word} commands`);
  group
    .helpCommand(false)
    .showSuggestionAfterError(false)
    .showHelpAfterError(`hint: run 'switchyard ${[...path, word].join(" ")} --help' for its commands`);
  group.on("command:*", (operands: string[]) => {
    throw new UnknownCommandError([...path, word, operands[0]!], [...path, word].join(" "));
  });
  return group;
}

/** The commander program built from the specs; `run` executes a parsed leaf. */
export function buildProgram(io: Io, run: (spec: CommandSpec, cmd: Command) => Promise<void>): Command {
  const program = new Command("switchyard");
  program
    .description("control plane for teams of AI coding-agent sessions")
    .version(VERSION, "-V, --version", "Print the version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, "")),
      writeErr: (s) => io.err(s.replace(/\n$/, "")),
      // Wrapped to the terminal; unwrapped into pipes and files, where grep should find whole lines.
      getOutHelpWidth: () => (process.stdout.isTTY ? process.stdout.columns : 1000),
      getErrHelpWidth: () => (process.stderr.isTTY ? process.stderr.columns : 1000),
    })
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(false)
    .showHelpAfterError("hint: run 'switchyard --help' for the list of commands");
  for (const [name, o] of Object.entries(GLOBAL_OPTIONS)) program.addOption(globalOption(name, o));
  program.on("command:*", (operands: string[]) => {
    throw new UnknownCommandError([operands[0]!], "");
  });
  // Every command is listed, grouped, on the top level: commander's own help shows one level only.
  program.helpInformation = () => `${mainHelp()}\n`;
  for (const spec of ALL_COMMANDS) {
    const words = spec.name.split(" ");
    let parent = program;
    for (let i = 0; i < words.length - 1; i++) parent = groupCommand(parent, words[i]!, words.slice(0, i));
    const last = words.at(-1)!;
    // A word can be a command and a group at once (`commands`, `commands requeue`).
    const leaf = parent.commands.find((c) => c.name() === last) ?? parent.command(last);
    addLeaf(leaf, spec, run);
  }
  // Options after a subcommand's name belong to the subcommand, even where a command that is
  // also a group defines the same one (`dispatch --interval`, `dispatch watch --interval`):
  // positional options everywhere, with the global options repeated (hidden) on every command so
  // they still work after its name.
  program.enablePositionalOptions();
  const positional = (cmd: Command) => {
    for (const c of cmd.commands) {
      c.enablePositionalOptions();
      for (const [name, o] of Object.entries(GLOBAL_OPTIONS)) {
        if (!c.options.some((x) => x.long === `--${name}`)) c.addOption(globalOption(name, o).hideHelp());
      }
      positional(c);
    }
  };
  positional(program);
  return program;
}

function globalOption(name: string, o: OptionSpec): Option {
  return new Option(o.type === "string" ? `--${name} <${o.value}>` : `--${name}`, o.description);
}

/** The group named by argv when nothing else follows it (`switchyard broker`), else null. */
function groupAlone(program: Command, argv: string[]): Command | null {
  const words = argv.filter((a) => !a.startsWith("-"));
  if (words.length !== argv.length || !words.length) return null;
  let cmd: Command | undefined = program;
  for (const w of words) cmd = cmd?.commands.find((c) => c.name() === w || c.aliases().includes(w));
  const isLeaf = ALL_COMMANDS.some((s) => s.name === words.join(" "));
  return cmd && cmd !== program && cmd.commands.length && !isLeaf ? cmd : null;
}

/** Throws the unknown-command error when `words` do not name a command or group. */
function knownPath(program: Command, words: string[]): void {
  let cmd: Command = program;
  for (const [i, w] of words.entries()) {
    if (!cmd.commands.length) return;
    const next = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (!next) throw new UnknownCommandError(words.slice(0, i + 1), words.slice(0, i).join(" "));
    cmd = next;
  }
}

async function execute(spec: CommandSpec, args: Args, given: GlobalOptions, typed: Record<string, unknown>, io: Io, cwd: string): Promise<number> {
  try {
    checkChoices(spec.options, args);
    checkGlobals(given);
    const g = settleHome(spec, given, cwd);
    const a = withConnection(args, typed, g);
    if (spec.local) return await spec.local(a, g);
    const request = spec.request!(a);
    const waiting = spec.waitingFor?.(a);
    if (waiting) io.err(waiting);
    const transport = await openTransport(g);
    try {
      return printAnswer(spec, a, g.json, await transport.send(request), io);
    } finally {
      await transport.close();
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}\nhint: run 'switchyard ${spec.name} --help'`);
      return EXIT_USAGE;
    }
    const hint = (e as { hint?: unknown }).hint;
    io.err(`error: ${(e as Error).message}${typeof hint === "string" && hint ? `\nhint: ${hint}` : ""}`);
    return EXIT_FAILED;
  }
}

/** Refuses a server address or a token that could never be sent, as a usage error that names it. */
function checkGlobals(g: GlobalOptions): void {
  if (g.url !== undefined) {
    let protocol = "";
    try {
      protocol = new URL(g.url).protocol;
    } catch {}
    if (protocol !== "http:" && protocol !== "https:") {
      throw new UsageError(`--url (or $SWITCHYARD_URL) must be an http:// or https:// address, got '${g.url}'`);
    }
  }
  // A header value cannot hold these; undici or node:http would fail with an obscure message.
  if (g.token !== undefined && !/^[\x21-\x7e]+$/.test(g.token)) {
    throw new UsageError("--token (or $SWITCHYARD_TOKEN) holds a space, a line break or another character a token never has");
  }
}

/**
 * Evaluates, without running anything, the modules commands load on demand (the app, the
 * database driver, the host). bin/switchyard.mjs calls it before it writes the V8 code cache, so
 * the cache covers them whichever command happened to run first.
 */
export async function loadOnDemandModules(): Promise<void> {
  // The full app too: an in-process call evaluates only the route groups it needs, and which
  // ones differs from command to command.
  await Promise.all([import("./in-process-transport.ts"), import("../services.ts"), import("../../functions/app.ts")]);
}

/** Runs the CLI and returns its exit code. */
export async function runCli(argv: string[], io: Io = processIo, opts: CliOptions = {}): Promise<number> {
  const cwd = opts.cwd ?? process.cwd();
  if (argv.length === 0) {
    io.out(mainHelp());
    return EXIT_USAGE;
  }
  // `help broker token-check` is `broker token-check --help`, at any depth.
  const helpFor = argv[0] === "help" && argv.length > 1 ? argv.slice(1).filter((a) => !a.startsWith("-")) : null;
  if (helpFor) argv = [...argv.slice(1), "--help"];
  // A plain read command line (fast.ts) needs no commander: building its tree of every command
  // is a tenth of an in-process read's start-up. Same spec, same arguments, same execute().
  const read = opts.commanderOnly ? null : parseRead(argv);
  if (read) return execute(read.spec, read.args, globalsFrom(read.globals, process.env), read.globals, io, cwd);
  let code = EXIT_OK;
  const program = buildProgram(io, async (spec, cmd) => {
    code = await execute(spec, argsOf(cmd, spec), globalsOf(cmd), cmd.optsWithGlobals(), io, cwd);
  });
  const group = groupAlone(program, argv);
  if (group) {
    io.out(group.helpInformation());
    return EXIT_OK;
  }
  try {
    // Commander answers `nope --help` with the top-level help; `help nope` deserves the suggestions.
    if (helpFor) knownPath(program, helpFor);
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (e) {
    if (e instanceof UnknownCommandError) {
      const close = suggestCommands(e.words.join(" "));
      io.err(
        [
          `error: ${e.message}`,
          ...(close.length ? [`did you mean: ${close.map((c) => `switchyard ${c}`).join(", ")}?`] : []),
          `hint: run 'switchyard ${e.helpFor ? `${e.helpFor} ` : ""}--help' for the list of commands`,
        ].join("\n"),
      );
      return EXIT_USAGE;
    }
    // Commander has printed the message (and our hint) already; help and --version exit 0.
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    throw e;
  }
}
