import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** One benchmark result row, as bench/run.ts prints and records it. */
export interface BenchRow {
  id: string;
  label: string;
  n: number;
  p50_ms: number;
  p99_ms: number;
  /** A p50 target, or (for rows whose promise is about the tail) a p99 one. */
  target?: { p50_ms?: number; p99_ms?: number };
  pass?: boolean;
}

/** Two decimals, for the table and the JSON record. */
export const round = (x: number) => Math.round(x * 100) / 100;

/** Nearest-rank percentile of already collected samples. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * A latency row from samples, with an optional p50 target. `strict` targets are "under X"
 * (the issue says "p50 under 2 ms"); the others are "at most X".
 */
export function latencyRow(id: string, label: string, samples: number[], target?: { p50_ms: number; strict?: boolean }): BenchRow {
  const r: BenchRow = { id, label, n: samples.length, p50_ms: round(percentile(samples, 50)), p99_ms: round(percentile(samples, 99)) };
  if (target) {
    const p50 = percentile(samples, 50);
    r.target = { p50_ms: target.p50_ms };
    r.pass = target.strict ? p50 < target.p50_ms : p50 <= target.p50_ms;
  }
  return r;
}

/** The machine a result was measured on: a number means little without it. */
export function machineInfo() {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    platform: `${process.platform} ${process.arch}`,
    node: process.version,
    loadavg_1m: round(loadavg()[0]!),
  };
}

/** Writes bench/results/NAME.json: when, on which machine, then `fields` (scale, rows…). */
export function writeResult(name: string, fields: Record<string, unknown>): void {
  const dir = fileURLToPath(new URL("results", import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ recorded_at: new Date().toISOString(), machine: machineInfo(), ...fields }, null, 2)}\n`);
}

/**
 * The `--part NAME` a bench was asked to run alone, or undefined for all of them. An unknown or
 * missing name stops the bench with exit 2 and the names it knows.
 */
export function benchPart<P extends string>(argv: readonly string[], parts: readonly P[]): P | undefined {
  const i = argv.indexOf("--part");
  if (i === -1) return undefined;
  const v = argv[i + 1];
  if (v !== undefined && (parts as readonly string[]).includes(v)) return v as P;
  process.stderr.write(`unknown --part ${JSON.stringify(v ?? "")}; use one of: ${parts.join(", ")}\n`);
  process.exit(2);
}
