import type { Host } from "../lib/host.ts";
import { agentCommandOf, paneText } from "../lib/pane-text.ts";
import { classifyPane } from "../observe/classify.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Tuning for submitting text to an agent TUI. */
export interface SubmitOptions {
  /** Pause between typing the text and pressing Enter, so the TUI stops treating input as a paste. */
  settleMs?: number;
  /** How many times Enter is pressed before giving up. */
  maxEnterAttempts?: number;
  /** How long to wait for evidence of submission after each Enter. */
  verifyTimeoutMs?: number;
  /** Extra evidence of submission, e.g. a new user message in the transcript. */
  verify?: () => Promise<boolean>;
  /**
   * Why the registered agent cannot take typed text now (gone, stopped, not in its terminal's
   * foreground), or null: asked before typing and before every Enter. An agent that quits or is
   * suspended leaves its shell reading the pane, whose prompt may look like a composer
   * (starship's `❯`), and the text would run there as a command.
   */
  agentAway?: () => Promise<string | null>;
}

/** How a submission went. */
export interface SubmitResult {
  submitted: boolean;
  enter_attempts: number;
  verified_by: "transcript" | "pane" | null;
  /** Why Enter was never pressed: a prompt was open (nothing typed), or the composer did not show the text as typed. */
  held?: string;
  /** False when nothing was typed: a prompt was open (openPrompt), no agent composer showed, or the first line shows nothing. */
  typed?: boolean;
}

/** The last non-empty line of the text, which is what stays visible in a composer. */
function tailSnippet(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const last = lines.at(-1) ?? "";
  return last.slice(-40);
}

/**
 * True when the snippet no longer sits in the composer: the bottom few lines of the pane, where
 * both Codex and Claude Code draw their input box. A submitted prompt moves up into history.
 */
export function composerCleared(pane: string, snippet: string, composerLines = 6): boolean {
  return clearedIn(linesOf(pane), snippet, composerLines);
}

/** A captured pane's lines, without the blank rows below its last drawn line. */
function linesOf(pane: string): string[] {
  return pane.trimEnd().split("\n");
}

/** composerCleared on a pane already split into lines. */
function clearedIn(lines: string[], snippet: string, composerLines = 6): boolean {
  return !snippet || !lines.slice(-composerLines).some((l) => l.includes(snippet));
}

/**
 * The composer line of an agent TUI: the lowest line that starts, at its first column, with
 * Claude Code's `❯`, Codex's `›` or Claude Code's shell-mode `!`, then a blank (Claude Code
 * draws a no-break space there). Menus that repeat the glyph are indented, and prompts already
 * sent sit above the composer.
 */
const COMPOSER_LINE = /^([❯›!])(?:\s(.*))?$/u;

/**
 * Characters of a text's first line that must show at the composer's start: fewer than any
 * composer wraps at, enough to tell a start the TUI took as keys.
 */
const HEAD_CHARS = 12;

/**
 * A composer holding nothing but a paste: Claude Code's "[Pasted text #1 +12 lines]", Codex's
 * "[Pasted Content 1400 chars]", which a text of a few KB reaches in chunks, one placeholder
 * each ("[Pasted Content 1024 chars][Pasted Content 1024 chars] #2").
 */
const PASTE_PLACEHOLDER = /^(?:\[Pasted text #\d+(?: \+\d+ lines)?\]|(?:\[Pasted Content \d+ chars\](?: #\d+)?)+)$/;

/** How long the composer may take to show what was typed (Codex flushes a paste burst late). */
const SHOW_TIMEOUT_MS = 2000;

/**
 * Text as compared on screen: decomposed, without what a terminal draws differently or not at
 * all (marks such as VS16, default-ignorables such as a joiner, emoji skin-tone modifiers) and
 * without blanks, since tmux pads a wide character with one.
 */
function screenForm(text: string): string {
  return text.normalize("NFD").replace(/[\p{M}\p{Default_Ignorable_Code_Point}\p{Emoji_Modifier}\s]/gu, "");
}

/**
 * The lowest composer line of the pane: its glyph, what follows it, and its index; null with
 * none. Claude Code draws its composer's `❯` with a no-break space and a prompt already sent
 * with a plain one: where a no-break one shows, only such a line is the composer, so a history
 * line cannot stand in for a composer whose glyph row has scrolled away.
 */
function composerOf(lines: string[]): { glyph: string; content: string; index: number } | null {
  const claude = lines.some((l) => l.startsWith("❯\u00a0") || l.trimEnd() === "❯");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trimEnd();
    const m = COMPOSER_LINE.exec(line);
    if (m && (!claude || m[1] !== "❯" || line === "❯" || line.startsWith("❯\u00a0"))) return { glyph: m[1]!, content: m[2] ?? "", index: i };
  }
  return null;
}

/**
 * A composer too tall for its box scrolls: Claude Code draws `─── ↑ 2 more ───` where its top
 * rows were (and no `❯` row), Codex an `↑` at the end of its top visible row, which keeps the
 * `›`. Its start is then out of sight, so nothing can show that it took the text as text.
 */
const SCROLLED = /↑ \d+ more|↑\s*$/u;

/**
 * Whether pressing Enter would send `text` as typed: "ok" or why not. Keys typed into a TUI are
 * not always text: in Claude Code's vim mode a manager's Escape leaves the composer in normal
 * mode, where `i/clear` is `i` (insert) and then `/clear`, and `i!cmd` opens shell mode. So the
 * composer must start with the start of the text, in the ordinary prompt (or in shell mode only
 * for text that asks for it), and must open with the same command character as the text or
 * none. A pane with no composer (the agent quit to its shell, a dialog hides it) is a no.
 */
export function composerVerdict(pane: string, text: string): string {
  return verdictIn(linesOf(pane), text);
}

/** composerVerdict on a pane already split into lines. */
function verdictIn(lines: string[], text: string): string {
  const composer = composerOf(lines);
  if (!composer) {
    return lines.some((l) => SCROLLED.test(l)) ? "the composer has scrolled: its start is out of sight" : "no agent composer shows in the pane";
  }
  if (lines.slice(composer.index).some((l) => SCROLLED.test(l))) return "the composer has scrolled: its start is out of sight";
  const prompt = promptIn(lines, text);
  if (prompt) return `the pane shows ${prompt}`;
  const { glyph, content } = composer;
  let expected = screenForm(text.split("\n")[0]!);
  if (glyph === "!") {
    // Claude Code turns a leading `!` into shell mode and draws the rest after the `!` glyph.
    if (!expected.startsWith("!")) return "the agent is in shell mode (its composer starts with `!`)";
    expected = expected.slice(1);
  }
  // submitText refuses such a text before typing; an empty start would match any composer.
  if (!expected) return "the text's first line shows nothing on screen";
  const shown = screenForm(content);
  // Quoted as drawn, cut by characters so a surrogate pair stays whole.
  const drawn = JSON.stringify(Array.from(content.trim()).slice(0, 40).join(""));
  if (glyph !== "!" && (agentCommandOf(shown) ?? "") !== (agentCommandOf(expected) ?? "")) {
    return `the composer shows ${drawn}, a command the text did not start with`;
  }
  // A long text arrives as one paste, which both CLIs draw as a placeholder: the whole input
  // went in as text, not keys (Claude Code in vim normal mode took a 1,400-character `i/clear …`
  // as "[Pasted text #1]"). Keys read before a paste would show in front of its placeholder.
  if (glyph !== "!" && PASTE_PLACEHOLDER.test(content.trim())) return "ok";
  const head = Array.from(expected).slice(0, HEAD_CHARS).join("");
  if (shown.startsWith(head)) return "ok";
  return `the composer shows ${drawn}, not the text as typed`;
}

/**
 * A selection menu's row: numbered (Codex's `› 1. Yes, proceed (y)`, Claude Code's ` ❯ 1. Yes`)
 * or any indented selector row (Claude Code's rewind list). Only rows below the composer-glyph
 * line count, where a composer has none (its slash menu is drawn above it).
 */
const MENU_ROW = /^\s*[›❯]\s*\d+\.\s|^\s+[›❯]\s*\S/u;

/** Footers of dialogs that take keys: confirm, select, cancel, Codex's transcript browser. */
const DIALOG_FOOTER = /\benter to (?:confirm|continue|select)\b|\besc to (?:cancel|go back|close)\b|↵ rewind/i;

/**
 * The prompt the pane shows below its lowest composer-glyph line (or anywhere, with none), or
 * null: a menu, an approval, trust or "press enter" prompt, a dialog's footer. Typed text
 * answers such a prompt key by key: in Codex's approval menu the `y` of "yes, carry on"
 * approved the command, and `p` approves it for good. Claude Code hides its composer while a
 * dialog is open, so the lowest glyph line is then a prompt already sent, above the dialog.
 * Above that line is history, where an agent may quote anything. `ours`: text just typed, whose
 * lines (a numbered list, "do you want to proceed?") are not taken for a prompt.
 */
export function openPrompt(pane: string, ours?: string): string | null {
  return promptIn(linesOf(pane), ours);
}

/** openPrompt on a pane already split into lines. */
function promptIn(lines: string[], ours?: string): string | null {
  // Lines of the text just typed are the composer's, not a dialog's, whatever they say.
  const typed = ours === undefined ? "" : screenForm(ours);
  // A line too short to tell (a menu row "❯ No") is taken for the dialog's: a hold, not a miss.
  const theirs = (l: string) => {
    const shown = screenForm(l.replace(/^\s*[❯›]/u, ""));
    return !(typed && shown.length >= 4 && typed.includes(shown));
  };
  const below = lines.slice(composerOf(lines)?.index ?? 0).filter(theirs);
  const menu = below.find((l) => MENU_ROW.test(l));
  if (menu !== undefined) return `a menu: ${menu.trim()}`;
  const c = classifyPane(below.join("\n"));
  const prompt = c.matched.find((p) => p === "approval_prompt" || p === "trust_prompt" || p === "enter_to_confirm");
  if (prompt) return c.pattern === prompt ? `${prompt.replaceAll("_", " ")}: ${c.evidence}` : prompt.replaceAll("_", " ");
  const footer = below.find((l) => DIALOG_FOOTER.test(l));
  return footer === undefined ? null : `a dialog: ${footer.trim()}`;
}

/**
 * composerCleared, and no paste placeholder left in the composer row: a paste's text is not on
 * screen, so its end missing from the composer says nothing (a 3 KB text to Codex read as sent
 * while its placeholders still sat there).
 */
export function sentOff(pane: string, snippet: string): boolean {
  const lines = linesOf(pane);
  return clearedIn(lines, snippet) && !/\[Pasted (?:text|Content) /.test(composerOf(lines)?.content ?? "");
}

/** Waits up to SHOW_TIMEOUT_MS for the composer to show `text` as typed; why it does not, or null. */
async function composerHeld(host: Host, target: string, text: string): Promise<string | null> {
  // Ok twice on the same screen: a long text reaches Codex in chunks, each drawn as a paste
  // placeholder of its own, and an Enter between two chunks submits nothing.
  // The composer's row is compared, not the pane: a busy agent's timer redraws every second.
  let lastOk: string | null = null;
  for (const until = Date.now() + SHOW_TIMEOUT_MS; ; ) {
    const lines = linesOf(await host.tmuxCapturePane(target));
    const verdict = verdictIn(lines, text);
    const row = verdict === "ok" ? (composerOf(lines)?.content ?? "") : null;
    if (row !== null && (row === lastOk || Date.now() >= until)) return null;
    if (Date.now() >= until) return verdict;
    lastOk = row;
    await sleep(row !== null ? 250 : 100);
  }
}

/**
 * Types `text` literally, lets the TUI settle, presses Enter, and verifies the prompt was
 * submitted (transcript evidence first, then the composer clearing), pressing Enter again a
 * bounded number of times. Never sends Escape: control bytes and escape sequences are removed
 * from the text first (see lib/pane-text.ts), so nothing in it can arrive as a key. Enter is
 * pressed only once the composer shows the text as typed (composerVerdict); otherwise the text
 * is left there unsent and `held` says what the composer showed. Nothing is typed while the pane
 * shows a prompt (openPrompt) or no agent composer at all, or when the text's first line shows
 * nothing: `typed: false`, and `held` says why. Enter is not pressed again once a dialog opens.
 */
export async function submitText(host: Host, target: string, raw: string, opts: SubmitOptions = {}): Promise<SubmitResult> {
  // Leading blanks carry nothing, and a blank first line would give the composer nothing to show.
  const text = paneText(raw).replace(/^\s+/u, "");
  if (!text) return { submitted: false, enter_attempts: 0, verified_by: null };
  const notTyped = (held: string): SubmitResult => ({ submitted: false, enter_attempts: 0, verified_by: null, typed: false, held });
  if (!screenForm(text.split("\n")[0]!)) return notTyped("the text's first line shows nothing on screen; start it with a word");
  const settleMs = opts.settleMs ?? 400;
  const maxEnter = opts.maxEnterAttempts ?? 3;
  const verifyTimeout = opts.verifyTimeoutMs ?? 3000;
  const snippet = tailSnippet(text);
  const before = linesOf(await host.tmuxCapturePane(target));
  const prompt = promptIn(before);
  if (prompt) return notTyped(`the pane shows ${prompt}; typed text would answer it`);
  // An agent that quit leaves its shell in the pane, where the text would be a command.
  if (!composerOf(before)) return notTyped("no agent composer shows in the pane (has the agent quit?)");
  const away = await opts.agentAway?.();
  if (away) return notTyped(away);
  await host.tmuxSendKeys(target, text, { literal: true });
  await sleep(settleMs);
  const held = await composerHeld(host, target, text);
  if (held) return { submitted: false, enter_attempts: 0, verified_by: null, held };
  for (let attempt = 1; attempt <= maxEnter; attempt++) {
    const gone = await opts.agentAway?.();
    if (gone) return { submitted: false, enter_attempts: attempt - 1, verified_by: null, held: `${gone}; Enter was not pressed` };
    if (attempt > 1) {
      // A first Enter may have opened a dialog (a selection, a confirmation) that another would answer.
      const opened = openPrompt(await host.tmuxCapturePane(target), text);
      if (opened) return { submitted: false, enter_attempts: attempt - 1, verified_by: null, held: `the pane shows ${opened} after Enter` };
    }
    await host.tmuxSendKeys(target, "Enter");
    const deadline = Date.now() + verifyTimeout;
    while (Date.now() < deadline) {
      await sleep(150);
      if (opts.verify && (await opts.verify())) return { submitted: true, enter_attempts: attempt, verified_by: "transcript" };
      if (!opts.verify && sentOff(await host.tmuxCapturePane(target), snippet)) {
        return { submitted: true, enter_attempts: attempt, verified_by: "pane" };
      }
    }
    // With transcript evidence available, a cleared composer alone is not proof, but it does
    // mean another Enter would submit nothing; stop pressing.
    if (opts.verify && sentOff(await host.tmuxCapturePane(target), snippet)) {
      return { submitted: true, enter_attempts: attempt, verified_by: "pane" };
    }
  }
  return { submitted: false, enter_attempts: maxEnter, verified_by: null };
}
