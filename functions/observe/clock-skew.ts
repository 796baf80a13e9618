/**
 * Placing transcript events on the server's clock.
 *
 * An agent stamps its transcript lines with its own host's clock, which may be minutes off the
 * clock of the process that computes staleness. Ingest gives an independent, server-side bound
 * for every line: a line that starts at or past the size the previous ingest saw was written
 * after that ingest looked, and a line that ends within the size this ingest saw was written
 * before it looked. Those bounds carry evidence of the host's offset, which is kept per session
 * and applied to every event; the bounds then clamp what the corrected stamp may claim.
 */

/** How far agent stamps may disagree with the bounds before they count as evidence of skew. */
export const SKEW_TOLERANCE_MS = 120_000;

/** One look at the transcript: its size and the server time of the look. */
export interface FileLook {
  size: number;
  at: number;
}

/** Server-time bounds on when one line was written; `lo` is null when nothing bounds it below. */
export interface LineBounds {
  lo: number | null;
  hi: number;
}

/** The bounds of the line at byte range [start, end), given the previous and the current look. */
export function lineBounds(start: number, end: number, previous: FileLook | null, current: FileLook): LineBounds {
  return {
    lo: previous && start >= previous.size ? previous.at : null,
    hi: previous && end <= previous.size ? previous.at : current.at,
  };
}

/**
 * What a set of stamped lines says about the host's offset: it is at least `atLeast` and at most
 * `atMost` (infinite when nothing bounds it on that side). Computed where lines are parsed, so
 * only these two numbers reach the transaction that knows the session's current estimate.
 */
export interface SkewEvidence {
  atLeast: number;
  atMost: number;
}

/** The evidence of `samples`. */
export function skewEvidence(samples: ReadonlyArray<{ eventAt: number; bounds: LineBounds }>): SkewEvidence {
  let atLeast = Number.NEGATIVE_INFINITY;
  let atMost = Number.POSITIVE_INFINITY;
  for (const { eventAt, bounds } of samples) {
    atLeast = Math.max(atLeast, eventAt - bounds.hi);
    if (bounds.lo !== null) atMost = Math.min(atMost, eventAt - bounds.lo);
  }
  return { atLeast, atMost };
}

/**
 * The host's clock offset (agent stamp minus server time) after weighing new evidence. The old
 * estimate stands while it agrees with the evidence within the tolerance, so a slow writer (a
 * long streamed answer stamped when it began) does not move it; when it disagrees by more, it
 * moves to the nearest offset the evidence allows. Contradictory evidence changes nothing.
 */
export function applySkewEvidence(skewMs: number, { atLeast, atMost }: SkewEvidence): number {
  if (atLeast > atMost) return skewMs;
  if (skewMs >= atLeast - SKEW_TOLERANCE_MS && skewMs <= atMost + SKEW_TOLERANCE_MS) return skewMs;
  return Math.round(Math.min(Math.max(skewMs, atLeast), atMost));
}

/** `applySkewEvidence` of the samples' evidence. */
export function updateSkew(skewMs: number, samples: ReadonlyArray<{ eventAt: number; bounds: LineBounds }>): number {
  return applySkewEvidence(skewMs, skewEvidence(samples));
}

/** When an event happened on the server's clock: its own stamp corrected by the skew, within its bounds. */
export function observedAt(eventAt: number | null, bounds: LineBounds, skewMs: number): number {
  if (eventAt === null) return bounds.hi;
  const corrected = eventAt - skewMs;
  return Math.min(bounds.hi, bounds.lo === null ? corrected : Math.max(bounds.lo, corrected));
}
