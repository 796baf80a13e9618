import type { ApiRequest } from "./transport.ts";

/** A command-line option of one command. */
export interface OptionSpec {
  type: "string" | "boolean";
  multiple?: boolean;
  description: string;
  /** Shown in help as the value placeholder (when there are no choices, or too many to show there). */
  value?: string;
  /**
   * The only values the option takes, checked before anything is sent or done: a value outside
   * them is a usage error (exit 2). Where the option is a field of a request, these are the
   * field's enum (tests/local-runner/cli/choices.test.ts compares them with the OpenAPI document).
   */
  choices?: readonly string[];
}

/** A positional argument of one command. */
export interface PositionalSpec {
  name: string;
  required: boolean;
  description: string;
}

/** The TASK positional most task commands take first. */
export const TASK_ARG: PositionalSpec = { name: "TASK", required: true, description: "Task name" };

/** Parsed arguments handed to a command. */
export interface Args {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /**
   * `--home` and `--url` when the command line gave them (the home made absolute), for next-page
   * hints to repeat: a cursor walks only the database it came from.
   */
  connection?: { home?: string; url?: string };
}

/** How one CLI command maps onto an API call (or, for `local`, onto local work). */
export interface CommandSpec {
  name: string;
  aliases?: string[];
  summary: string;
  /** Help section this command is listed under (e.g. "sessions", "broker"). */
  group?: string;
  options?: Record<string, OptionSpec>;
  positionals?: PositionalSpec[];
  examples?: string[];
  /** Exit codes of this command beyond 0 (ok), 1 (failed) and 2 (usage), listed in its --help. */
  exitCodes?: Record<number, string>;
  request?: (a: Args) => ApiRequest;
  render?: (body: any, a: Args) => string;
  /**
   * The exit code of a 2xx answer. A call can succeed and still carry a negative verdict (a
   * nudge that was not submitted, a token that is invalid, a wait that timed out); scripts
   * and agents read that from the exit code. Default 0.
   */
  exitCode?: (body: any, a: Args) => number;
  /** For calls that can take a while: what they wait for, printed on stderr before the call. */
  waitingFor?: (a: Args) => string | undefined;
  /**
   * How the command relates to the state directory. Default "required": without a home (and
   * without --url) it fails with a hint. "create" makes one when none is found (up, init);
   * "none" runs without one (commands that only talk to a server, or only to this machine).
   */
  home?: "required" | "create" | "none";
  /** Commands that are not one API call (up, doctor…) run here and return an exit code. */
  local?: (a: Args, g: GlobalOptions) => Promise<number>;
}

/** Flags every command accepts. */
export interface GlobalOptions {
  url?: string;
  token?: string;
  /** The home directory, absolute, once the CLI has found it (or chosen where to create it). */
  home?: string;
  json: boolean;
}

/** Exit code: the command did what was asked. */
export const EXIT_OK = 0;
/** Exit code: an error, or an answer with a negative verdict (not submitted, invalid, NOT OK). */
export const EXIT_FAILED = 1;
/** Exit code: the command line itself was wrong; nothing was done. */
export const EXIT_USAGE = 2;
/** Exit code: a wait (inbox long poll) ended because its timeout passed, with nothing to show. */
export const EXIT_TIMED_OUT = 3;

/** A mistake in how the command was invoked (exit code 2). */
export class UsageError extends Error {}

/** A failure the user can fix: printed as `error: message` and `hint: hint`, exit code 1. */
export class HintedError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** Choices longer than this, joined by `|`, are listed in the option's description instead of its placeholder. */
const PLACEHOLDER_CHOICES_MAX = 50;

/** How help shows a string option's value and description: its choices as the placeholder when they fit, else listed after the description. */
export function optionHelp(o: OptionSpec): { placeholder: string; description: string } {
  const joined = o.choices?.join("|");
  if (joined && joined.length <= PLACEHOLDER_CHOICES_MAX) return { placeholder: joined, description: o.description };
  const placeholder = o.value ?? "VALUE";
  return { placeholder, description: o.choices ? `${o.description} (one of: ${o.choices.join(", ")})` : o.description };
}

/**
 * Refuses a value outside its option's choices (each value of a repeatable option), as a usage
 * error that names the option, the choices and the value. The full CLI and the fast path's
 * parser both run it, before a request is built.
 */
export function checkChoices(options: Record<string, OptionSpec> | undefined, a: Args): void {
  for (const [name, o] of Object.entries(options ?? {})) {
    if (!o.choices) continue;
    for (const v of list(a, name)) {
      if (!o.choices.includes(v)) throw new UsageError(`--${name} must be one of: ${o.choices.join(", ")}; got '${v}'`);
    }
  }
}

/** Reads a string option. */
export function str(a: Args, name: string): string | undefined {
  const v = a.values[name];
  return typeof v === "string" ? v : undefined;
}

/** Reads a required string option, or fails with a usage error naming it. */
export function req(a: Args, name: string): string {
  const v = str(a, name);
  if (v === undefined || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

/** Reads a boolean flag. */
export function flag(a: Args, name: string): boolean {
  return a.values[name] === true;
}

/** Reads a repeatable option. */
export function list(a: Args, name: string): string[] {
  const v = a.values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

/** Reads an integer option, failing with a usage error that names the bad value. */
export function int(a: Args, name: string, opts: { min?: number; max?: number } = {}): number | undefined {
  const v = str(a, name);
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`--${name} must be an integer, got '${v}'`);
  const n = Number(v);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be at least ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name} must be at most ${opts.max}, got ${v}`);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} is too large, got ${v}`);
  return n;
}

/** Reads a JSON object option, failing with a usage error that names it. */
export function jsonOption(a: Args, name: string): Record<string, unknown> | undefined {
  const raw = str(a, name);
  if (raw === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new UsageError(`--${name} is not valid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new UsageError(`--${name} must be a JSON object`);
  return v as Record<string, unknown>;
}

/** Reads a positional argument (required ones are checked before the command runs). */
export function pos(a: Args, i: number): string | undefined {
  return a.positionals[i];
}
