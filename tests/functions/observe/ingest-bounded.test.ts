// A transcript line far longer than anything an agent writes must not be buffered: ingest skips
// it in bounded memory, moves its cursor past it (so the next ingest does not read it again),
// and counts it once it ends. Measured in a real process with a GC before every sample.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_LINE_BYTES } from "../../../functions/observe/ingest.ts";
import { spawnWorker } from "../../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./ingest-memory-worker.ts", import.meta.url));
const MiB = 1024 * 1024;

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

type Sampled = { result: Record<string, any>; peak: number; baseline: number };

describe("ingest of an over-long line", () => {
  it("skips a 64 MiB one-line transcript in bounded memory, moves the cursor past it, and counts it once it ends", { timeout: 120_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-longline-"));
    const w = spawnWorker<{ ready?: true; first: Sampled; second: Sampled; third: Sampled }>(WORKER, [dir], ["--expose-gc"]);
    const code = await w.exit;
    expect({ code, stderr: w.stderr.join("") }).toEqual({ code: 0, stderr: "" });
    const { first, second, third } = w.lines[0]!;

    // While the line is still being written, the cursor moves to the end of what exists.
    // (The one event is the session_meta record before it.)
    expect(first.result).toMatchObject({ skipping_line: true, partial_line_bytes: 0, new_lines: 1, new_events: 1, skipped_lines: 0 });
    expect(first.result.new_offset).toBe(first.result.file_size);
    expect(first.result.file_size).toBeGreaterThan(64 * MiB);
    // Memory held by ingest stays near the limit, never near the line's size: the longest line
    // kept, plus the 4 MiB chunks in hand (two read ahead, one parsed, one committed).
    expect(first.peak - first.baseline).toBeLessThan(MAX_LINE_BYTES + 16 * MiB);

    // Once it ends it counts as one skipped line, and what follows is ingested.
    expect(second.result).toMatchObject({ skipping_line: false, skipped_lines: 1, new_lines: 2, new_events: 1, partial_line_bytes: 0 });
    expect(second.result.previous_offset).toBe(first.result.new_offset);
    expect(second.result.warnings.join(" ")).toMatch(/longer than 16777216 bytes/);
    expect(second.peak - second.baseline).toBeLessThan(MAX_LINE_BYTES + 16 * MiB);

    // Nothing is read twice.
    expect(third.result).toMatchObject({ new_lines: 0, new_offset: second.result.new_offset, previous_offset: second.result.new_offset });
  });
});
