/** Pane patterns a manager may need to act on, in priority order. */
export const PANE_PATTERNS = ["trust_prompt", "rate_limit_prompt", "approval_prompt", "enter_to_confirm", "long_running_interruptible"] as const;
export type PanePattern = (typeof PANE_PATTERNS)[number];

/** What the classifier knows besides the pane text. */
export interface ClassifyContext {
  /** Worker state from the event stream. */
  state?: "busy" | "idle" | "unknown";
  /** Seconds since the last state-changing event. */
  stalenessSeconds?: number | null;
  /** Events ingested in this cycle; a chatty worker is healthy even if its state is old. */
  recentEventCount?: number;
  /** Stuck-busy threshold. */
  busyWaitSeconds?: number;
}

export interface Classification {
  pattern: PanePattern | null;
  /** Every pattern whose text matched, before priority and suppression. */
  matched: PanePattern[];
  /** The pane line that matched the chosen pattern. */
  evidence: string | null;
  busy_indicator: boolean;
  suppressed: Array<{ pattern: PanePattern; reason: string }>;
}

/** Below this many new events per cycle a busy-but-quiet worker counts as possibly stuck. */
export const RECENT_EVENT_SUPPRESSION = 10;

const TEXT_RULES: Array<[PanePattern, RegExp]> = [
  [
    "trust_prompt",
    /do you trust the (?:files|contents|authors)|trust (?:this|the) (?:folder|directory|workspace)|allow (?:codex|claude) to work in this folder/i,
  ],
  [
    "rate_limit_prompt",
    /rate[ -]?limit(?:ed\b| (?:reached|exceeded|hit))|usage limit|you(?:'|’)ve hit your (?:usage )?limit|too many requests|quota exceeded/i,
  ],
  [
    "approval_prompt",
    /allow command\?|would you like to run the following command|do you want to (?:proceed|make this edit|create|run|allow)|approve this|\byes, and don(?:'|’)t ask again\b|press y to (?:approve|allow)/i,
  ],
  ["enter_to_confirm", /press enter to (?:confirm|continue)|enter to confirm|hit enter to continue/i],
];

// "Esc to cancel" is deliberately absent: menus (trust, approval) show it while nothing runs.
const BUSY_PHRASE = /esc to interrupt|ctrl\+c to (?:interrupt|cancel)/i;

/**
 * A line that says the agent is busy: a busy phrase, or "working" followed later on the line by
 * an elapsed time like "(12s". Looked for after the first "working" only (any later one has less
 * line after it), never as `working.*\(\d+s`: a line of repeated "working" made that quadratic, and
 * the pane and the classify route's 200,000 characters are the agent's to fill.
 */
function busyIndicator(line: string): boolean {
  if (BUSY_PHRASE.test(line)) return true;
  // `.` stops at these, so each stretch between them is a line of its own to the old pattern.
  for (const part of line.split(/[\r\u2028\u2029]/)) {
    const w = /\bworking\b/i.exec(part);
    if (w !== null && /\(\d+s/.test(part.slice(w.index + w[0].length))) return true;
  }
  return false;
}

/**
 * Classifies captured pane text. Prompt patterns come straight from the text; the stuck-busy
 * pattern also needs the event stream: it fires only when the pane shows a busy indicator, the
 * worker has been busy longer than the threshold, and it emitted few events this cycle.
 */
export function classifyPane(text: string, ctx: ClassifyContext = {}): Classification {
  const lines = text.split("\n");
  const matched: PanePattern[] = [];
  const evidence = new Map<PanePattern, string>();
  for (const [pattern, re] of TEXT_RULES) {
    const hit = lines.find((l) => re.test(l));
    if (hit !== undefined) {
      matched.push(pattern);
      evidence.set(pattern, hit.trim());
    }
  }
  const busyLine = lines.find(busyIndicator);
  const suppressed: Classification["suppressed"] = [];
  if (busyLine !== undefined) {
    const threshold = ctx.busyWaitSeconds ?? 90;
    const stale = (ctx.stalenessSeconds ?? 0) >= threshold;
    if (ctx.state === "busy" && stale) {
      if ((ctx.recentEventCount ?? 0) >= RECENT_EVENT_SUPPRESSION) {
        suppressed.push({ pattern: "long_running_interruptible", reason: `worker emitted ${ctx.recentEventCount} events this cycle` });
      } else {
        matched.push("long_running_interruptible");
        evidence.set("long_running_interruptible", busyLine.trim());
      }
    }
  }
  const pattern = PANE_PATTERNS.find((p) => matched.includes(p)) ?? null;
  return { pattern, matched, evidence: pattern ? evidence.get(pattern)! : null, busy_indicator: busyLine !== undefined, suppressed };
}
