import type { Host } from "../lib/host.ts";
import { agentCommandOf, paneText } from "../lib/pane-text.ts";

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
}

/** How a submission went. */
export interface SubmitResult {
  submitted: boolean;
  enter_attempts: number;
  verified_by: "transcript" | "pane" | null;
  /** Why Enter was never pressed: the composer did not show the text as typed (see composerVerdict). */
  held?: string;
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
  if (!snippet) return true;
  const lines = pane.trimEnd().split("\n");
  return !lines.slice(-composerLines).some((l) => l.includes(snippet));
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

/** A composer holding nothing but a paste: Claude Code's "[Pasted text #1 +12 lines]", Codex's "[Pasted Content 1400 chars]". */
const PASTE_PLACEHOLDER = /^\[Pasted (?:text #\d+(?: \+\d+ lines)?|Content \d+ chars)\]$/;

/** How long the composer may take to show what was typed (Codex flushes a paste burst late). */
const SHOW_TIMEOUT_MS = 2000;

/** Text as compared on screen: without what a terminal may draw differently or not at all, blanks collapsed. */
function screenForm(text: string): string {
  return text
    .replace(/[\p{M}\p{Default_Ignorable_Code_Point}]/gu, "")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Whether pressing Enter would send `text` as typed: null when the pane shows no composer this
 * knows (another program; Enter is pressed as before), else "ok" or why not. Keys typed into a
 * TUI are not always text: in Claude Code's vim mode a manager's Escape leaves the composer in
 * normal mode, where `i/clear` is `i` (insert) and then `/clear`, and `i!cmd` opens shell mode.
 * So the composer must start with the start of the text, in the ordinary prompt (or in shell
 * mode only for text that asks for it), and must open with the same command character as the
 * text or none.
 */
export function composerVerdict(pane: string, text: string): "ok" | string | null {
  const lines = pane.trimEnd().split("\n");
  let glyph: string | undefined;
  let content = "";
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = COMPOSER_LINE.exec(lines[i]!.trimEnd());
    if (m) {
      glyph = m[1]!;
      content = m[2] ?? "";
      break;
    }
  }
  if (!glyph) return null;
  let expected = screenForm(text.split("\n")[0]!);
  if (glyph === "!") {
    // Claude Code turns a leading `!` into shell mode and draws the rest after the `!` glyph.
    if (!expected.startsWith("!")) return "the agent is in shell mode (its composer starts with `!`)";
    expected = screenForm(expected.slice(1));
  }
  const shown = screenForm(content);
  const quote = (s: string) => JSON.stringify(Array.from(s).slice(0, 40).join(""));
  if (glyph !== "!" && (agentCommandOf(shown) ?? "") !== (agentCommandOf(expected) ?? "")) {
    return `the composer shows ${quote(shown)}, a command the text did not start with`;
  }
  // A long text arrives as one paste, which both CLIs draw as a placeholder: the whole input
  // went in as text, not keys (Claude Code in vim normal mode took a 1,400-character `i/clear …`
  // as "[Pasted text #1]"). Keys read before a paste would show in front of its placeholder.
  if (glyph !== "!" && PASTE_PLACEHOLDER.test(shown)) return "ok";
  const head = Array.from(expected).slice(0, HEAD_CHARS).join("");
  if (shown.startsWith(head)) return "ok";
  return `the composer shows ${quote(shown)}, not the text as typed`;
}

/** Waits up to SHOW_TIMEOUT_MS for the composer to show `text` as typed; why it does not, or null. */
async function composerHeld(host: Host, target: string, text: string): Promise<string | null> {
  for (const until = Date.now() + SHOW_TIMEOUT_MS; ; ) {
    const verdict = composerVerdict(await host.tmuxCapturePane(target), text);
    if (verdict === null || verdict === "ok") return null;
    if (Date.now() >= until) return verdict;
    await sleep(100);
  }
}

/**
 * Types `text` literally, lets the TUI settle, presses Enter, and verifies the prompt was
 * submitted (transcript evidence first, then the composer clearing), pressing Enter again a
 * bounded number of times. Never sends Escape: control bytes and escape sequences are removed
 * from the text first (see lib/pane-text.ts), so nothing in it can arrive as a key. Enter is
 * pressed only once the composer shows the text as typed (composerVerdict); otherwise the text
 * is left there unsent and `held` says what the composer showed.
 */
export async function submitText(host: Host, target: string, raw: string, opts: SubmitOptions = {}): Promise<SubmitResult> {
  const text = paneText(raw);
  if (!text.trim()) return { submitted: false, enter_attempts: 0, verified_by: null };
  const settleMs = opts.settleMs ?? 400;
  const maxEnter = opts.maxEnterAttempts ?? 3;
  const verifyTimeout = opts.verifyTimeoutMs ?? 3000;
  const snippet = tailSnippet(text);
  await host.tmuxSendKeys(target, text, { literal: true });
  await sleep(settleMs);
  const held = await composerHeld(host, target, text);
  if (held) return { submitted: false, enter_attempts: 0, verified_by: null, held };
  for (let attempt = 1; attempt <= maxEnter; attempt++) {
    await host.tmuxSendKeys(target, "Enter");
    const deadline = Date.now() + verifyTimeout;
    while (Date.now() < deadline) {
      await sleep(150);
      if (opts.verify && (await opts.verify())) return { submitted: true, enter_attempts: attempt, verified_by: "transcript" };
      if (!opts.verify && composerCleared(await host.tmuxCapturePane(target), snippet)) {
        return { submitted: true, enter_attempts: attempt, verified_by: "pane" };
      }
    }
    // With transcript evidence available, a cleared composer alone is not proof, but it does
    // mean another Enter would submit nothing; stop pressing.
    if (opts.verify && composerCleared(await host.tmuxCapturePane(target), snippet)) {
      return { submitted: true, enter_attempts: attempt, verified_by: "pane" };
    }
  }
  return { submitted: false, enter_attempts: maxEnter, verified_by: null };
}
