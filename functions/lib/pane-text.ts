import { z } from "@hono/zod-openapi";
import type { Ctx } from "./ctx.ts";
import { ApiError } from "./errors.ts";

/*
 * Text typed into a tmux pane (nudges, inbox deliveries, interrupt follow-ups) and prompts
 * handed to an agent CLI (spawn, pair, manager bootstrap) must reach the agent as text. tmux
 * `send-keys -l` turns every control byte into the key it encodes: ESC (0x1b) is the Escape
 * key, 0x03 is Ctrl-C, 0x0d is Enter, and an escape sequence can move the cursor or answer a
 * menu. So before anything is typed, control bytes and escape sequences are removed; Escape and
 * interrupts only ever reach a pane through the interrupt route, as named keys.
 *
 * A newline stays: typed with -l it is a newline in the composer, not a submit (see
 * docs/notes/agent-clis.md). A carriage return would be Enter, so it becomes a newline; a tab
 * (completion, mode toggles in some TUIs) becomes a space.
 */

/**
 * A whole escape sequence: CSI (ESC [ … final), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC
 * (ESC P|X|^|_ … ST), SS3 (ESC O key), or a two-byte escape (ESC, intermediates, final). A lone ESC matches too.
 */
const ESCAPE_SEQUENCE = /\x1b(?:\[[0-?]*[ -/]*[@-~]?|O[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -/]*[0-~])?/g;
/** C0 controls except tab and newline, DEL, and the C1 range (U+0080–U+009F, e.g. U+009B CSI). */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
/** Anything `paneText` would remove or change, other than a newline. */
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

/**
 * Format characters (zero-width space and joiners, bidi controls, the BOM): invisible, so text
 * could hide behind them what an agent acts on (a zero-width space before `/help` still opened
 * Claude Code's slash menu), and a reader of the pane could not see them.
 */
const FORMAT = /\p{Cf}/gu;

/** The literal, typeable form of `text`: escape sequences, control bytes and format characters removed. */
export function paneText(text: string): string {
  return text.replace(/\r\n?/g, "\n").replace(ESCAPE_SEQUENCE, "").replace(/\t/g, " ").replace(CONTROL, "").replace(FORMAT, "");
}

/** True when `text` holds a byte that would be a key rather than text in a pane. */
export function hasControlBytes(text: string): boolean {
  return UNSAFE.test(text.replace(/\r\n?/g, "\n").replace(/\t/g, " "));
}

/**
 * A string field whose value is typed into a pane or passed to an agent as its prompt: control
 * bytes and escape sequences are refused with a message that says where keys belong. Newlines,
 * carriage returns and tabs are allowed (they are typed as newlines and spaces).
 */
export function PaneTextField(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !hasControlBytes(s), {
      message: "contains control characters or escape sequences (e.g. ESC, Ctrl-C); text is typed literally — send keys with session-interrupt --key",
    });
}

/**
 * What the agent CLIs take as a command of their own when a prompt starts with it: `/` a slash
 * command (both), `!` a shell command run at once, without a permission prompt (Claude Code's
 * bash mode; Codex's too), `#` a line saved to memory (Claude Code), `&` a background task.
 */
const COMMAND_CHARS = new Set(["/", "!", "#", "&"]);

/**
 * What may stand before that character and still leave it first on screen: blanks, marks with no
 * base to sit on (combining marks, variation selectors), and every code point that renders as
 * nothing (default-ignorable: Hangul fillers, Mongolian selectors, unassigned ones such as
 * U+2065), plus the braille blank. Format characters are gone by then (paneText).
 */
const LEADING_BLANKS = /^[\s\p{M}\p{Default_Ignorable_Code_Point}\u2800]*/u;

/**
 * The command `typed` starts with (its first word, as typed), or null. The first visible
 * character counts when it is a command character or folds onto one by itself under NFKC, so
 * full-width and small forms (`／`, `！`, `＃`, `﹠`) count too: whether a CLI folds them is not
 * something to rely on. Only that one character is folded: normalising a whole text of
 * combining marks costs time quadratic in its length, and a character that folds onto two
 * (`‼`) is not a command character.
 */
export function agentCommandOf(typed: string): string | null {
  const start = LEADING_BLANKS.exec(typed)![0].length;
  const first = typed.codePointAt(start);
  if (first === undefined) return null;
  const char = String.fromCodePoint(first);
  if (!COMMAND_CHARS.has(char) && !COMMAND_CHARS.has(char.normalize("NFKC"))) return null;
  return /^\S*/u.exec(typed.slice(start))![0];
}

/**
 * Refuses text from another session (a manager) that an agent would take as a command of its
 * own rather than as a prompt: typed into a pane, `/clear` or `/compact` would bypass the
 * compaction route's permission and handoff gates, `/quit` or `/model` are the owner's to send,
 * and `!cmd` would run a shell command on the worker's machine. The owner, and a session typing
 * into its own pane, may. Checked on the text as it will be typed.
 */
export function assertNoSlashCommand(ctx: Pick<Ctx, "auth">, target: { id: string }, text: string | null | undefined, field: string): void {
  if (!text || ctx.auth.kind === "owner" || (ctx.auth.kind === "session" && ctx.auth.sessionId === target.id)) return;
  const command = agentCommandOf(paneText(text));
  if (!command) return;
  const kind = String.fromCodePoint(command.codePointAt(0)!).normalize("NFKC");
  const what = kind === "!" ? "a shell command" : kind === "#" ? "a memory entry" : kind === "&" ? "a background task" : "a slash command";
  // Quoted by characters, not UTF-16 units, so a cut never splits a surrogate pair.
  const quoted = Array.from(command).slice(0, 40).join("");
  throw new ApiError("POLICY_REFUSED", `${field} starts with '${quoted}', which the agent would run as ${what}`, {
    hint: "Compact or clear a worker with `switchyard compact-worker TASK --reason TEXT [--clear]` (it checks the manager's permission and the handoff); otherwise start the text with a word.",
  });
}

/**
 * Keys a session may send into a pane it manages: interrupt and Escape. Not Enter: it submits
 * whatever the composer holds, such as a nudge held there because it showed as `/clear` (vim
 * normal mode), and it answers a permission prompt's preselected "Yes".
 */
const MANAGER_KEYS = new Set(["C-c", "Escape", "Esc"]);

/**
 * Refuses a key from another session (a manager) that is not an interrupt: C-z suspends the agent
 * and hands the pane to the user's shell, where the follow-up would run as a command; C-d ends
 * it; Enter submits what the composer holds or approves a prompt. The owner, and a session in
 * its own pane, may send any key the route allows.
 */
export function assertManagerKey(ctx: Pick<Ctx, "auth">, target: { id: string }, key: string | null | undefined): void {
  if (!key || ctx.auth.kind === "owner" || (ctx.auth.kind === "session" && ctx.auth.sessionId === target.id)) return;
  if (MANAGER_KEYS.has(key)) return;
  throw new ApiError("POLICY_REFUSED", `the key '${key}' is the owner's to send into another session's pane`, {
    hint: "Interrupt with C-c (or Escape while the agent is idle); other keys (C-z suspends the agent into a shell, C-d ends it, Enter submits the composer or approves a prompt) only with the owner token. To submit text, nudge it.",
  });
}
