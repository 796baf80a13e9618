/**
 * The CPU half of ingest: one span of complete transcript lines in, the events as one JSON
 * argument for `INSERT … SELECT FROM json_each` out. Pure (no database, no node:*), so a host can
 * run it on another thread (`Host.prepareTranscriptChunk`) while the main thread's SQLite inserts
 * the span before; ingest runs it inline when the host does not.
 */
import type { PreparedTranscriptChunk, TranscriptChunkJob } from "../lib/host.ts";
import { type LineBounds, lineBounds, skewEvidence } from "./clock-skew.ts";
import { normalizeLine } from "./normalize.ts";

/**
 * Longest transcript line ingested. A longer one is skipped and counted, never buffered: its
 * bytes are scanned for the next newline chunk by chunk and the cursor moves past them, so one
 * huge line costs one pass over it, not memory, and never stalls later ingests.
 */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
const NEWLINE = 0x0a;
/** Warnings kept per ingest (and so per chunk). */
export const MAX_WARNINGS = 10;

/** A warning, kept to the first few; warnings name offsets and sizes, never a line's content. */
export function warn(warnings: string[], text: string): void {
  if (warnings.length < MAX_WARNINGS) warnings.push(text);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Lone UTF-16 surrogates, which SQLite's JSON decoding would turn into invalid UTF-8. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");

/**
 * A string as a bound parameter would store it: the driver replaces a lone surrogate with U+FFFD,
 * while json_each would decode its `\ud800` escape into bytes that are not UTF-8.
 */
function wellFormed(s: string | null | undefined): string | null {
  if (s === null || s === undefined) return null;
  // isWellFormed (ES2024, native in Node 20 and Deno) answers without a regex scan; the
  // regex covers runtimes without it.
  const wf = (s as { isWellFormed?: () => boolean }).isWellFormed;
  const ok = wf ? wf.call(s) : !LONE_SURROGATE.test(s);
  return ok ? s : s.replace(LONE_SURROGATES, "\ufffd");
}

/**
 * Splits the complete lines of `job.bytes`, parses and normalises each, gives Claude events
 * without a turn id the turn of the prompt before them, and gathers the span's clock evidence.
 * Malformed, non-object and over-long lines are counted as skipped with a warning.
 */
export function prepareTranscriptChunk(job: TranscriptChunkJob): PreparedTranscriptChunk {
  const { base, kind, looks } = job;
  const bytes = job.head.length ? concat(job.head, job.bytes) : job.bytes;
  const decoder = new TextDecoder("utf-8", { fatal: false });
  const warnings: string[] = [];
  const rows: unknown[][] = [];
  const samples: Array<{ eventAt: number; bounds: LineBounds }> = [];
  let turn = job.turn;
  let lines = 0;
  let skipped = 0;
  let start = 0;
  for (let i = bytes.indexOf(NEWLINE); i !== -1; i = bytes.indexOf(NEWLINE, start)) {
    const lineOffset = base + start;
    const length = i - start;
    if (length > MAX_LINE_BYTES) {
      start = i + 1;
      lines++;
      skipped++;
      warn(warnings, `skipped a line of ${length} bytes at byte ${lineOffset} (longer than ${MAX_LINE_BYTES})`);
      continue;
    }
    // A newline byte never occurs inside a multi-byte UTF-8 sequence, so each line decodes whole.
    const text = decoder.decode(bytes.subarray(start, i)).trim();
    start = i + 1;
    if (!text) continue;
    lines++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // The parser's message quotes the line; the line may be anything, so it is not repeated.
      skipped++;
      warn(warnings, `skipped malformed line at byte ${lineOffset} (${length} bytes, not JSON)`);
      continue;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      skipped++;
      warn(warnings, `skipped non-object line at byte ${lineOffset}`);
      continue;
    }
    const bounds = lineBounds(lineOffset, base + i + 1, looks.previous, looks.current);
    normalizeLine(kind, parsed as Record<string, unknown>).forEach((e, seq) => {
      // Claude marks only the prompt with its turn id; the turn's end inherits it, so a
      // completion carries the promptId its Stop hook reports.
      if (kind === "claude") {
        if (e.kind === "user_message") turn = e.turnId ?? null;
        else if (!e.turnId && turn) e.turnId = turn;
      }
      if (e.eventAt !== null) samples.push({ eventAt: e.eventAt, bounds });
      rows.push([
        lineOffset,
        seq,
        e.kind,
        wellFormed(e.subtype),
        e.eventAt,
        wellFormed(e.text),
        wellFormed(e.tool),
        wellFormed(e.turnId),
        bounds.lo,
        bounds.hi,
      ]);
    });
  }
  return { lines, skipped, warnings, events: rows.length, rowsJson: JSON.stringify(rows), skew: skewEvidence(samples), turn };
}
