import type { Host } from "../lib/host.ts";
import { paneText } from "../lib/pane-text.ts";

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
 * Types `text` literally, lets the TUI settle, presses Enter, and verifies the prompt was
 * submitted (transcript evidence first, then the composer clearing), pressing Enter again a
 * bounded number of times. Never sends Escape: control bytes and escape sequences are removed
 * from the text first (see lib/pane-text.ts), so nothing in it can arrive as a key.
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
