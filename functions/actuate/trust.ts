import type { Host } from "../lib/host.ts";
import { classifyPane } from "../observe/classify.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// Codex draws "›", Claude Code "❯"; a plain ">" would also match Codex's ">_" banner.
const CURSOR = /^[❯›▶]\s*/;
/**
 * How trust menus word "yes": Claude Code "Yes, I trust this folder", Codex "Trust and
 * continue". Specific on purpose: the prose above Codex's menu starts a line with "trust these
 * files", which must not be mistaken for an option.
 */
const AFFIRMATIVE = /^(?:yes\b|trust and continue|trust this folder|allow\b|continue\b|proceed\b)/i;
/** Options sit right under or above the selection cursor, and are short (prose lines are not). */
const MENU_SPAN = 6;
const MAX_OPTION_CHARS = 60;

/** A menu line with its selection cursor and numbering removed, e.g. "Yes, I trust this folder". */
function optionText(line: string): string {
  return line
    .trim()
    .replace(CURSOR, "")
    .replace(/^\d+[.)]\s*/, "");
}

/**
 * Answers a trust-the-folder prompt with "yes". Menus differ (Claude Code preselects "No, exit"),
 * so the selection cursor is moved onto the affirmative option before pressing
 * Enter. Returns true once the prompt is gone.
 */
export async function acceptTrustPrompt(host: Host, target: string, attempts = 6): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    const pane = await host.tmuxCapturePane(target);
    if (!classifyPane(pane).matched.includes("trust_prompt")) return true;
    const lines = pane.split("\n");
    const selected = lines.findIndex((l) => CURSOR.test(l.trim()) && optionText(l).length > 0);
    const yes = lines.findIndex((l, i) => {
      const text = optionText(l);
      return AFFIRMATIVE.test(text) && text.length <= MAX_OPTION_CHARS && (selected === -1 || Math.abs(i - selected) <= MENU_SPAN);
    });
    const key = selected === -1 || yes === -1 || selected === yes ? "Enter" : yes > selected ? "Down" : "Up";
    await host.tmuxSendKeys(target, key);
    await sleep(700);
  }
  return !classifyPane(await host.tmuxCapturePane(target)).matched.includes("trust_prompt");
}
