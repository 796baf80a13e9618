/**
 * Small text helpers for the CLI's human output: durations people read at a glance and a
 * readable rendering of any API answer, so no command falls back to printing raw JSON
 * (`--json` is there for that).
 */

/** "850ms", "42s", "3m 12s", "2h 5m", "3d 4h": the two largest units, never a fraction. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "-";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${Math.round(rest)}ms`;
  rest = Math.round(rest / 1000);
  const units: Array<[string, number]> = [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ];
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (rest >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  // "1h 0m" reads worse than "1h".
  return sign + parts.filter((p, i) => i === 0 || !/^0[a-z]$/.test(p)).join(" ");
}

/** A number of seconds as a duration ("-" when absent). */
export function seconds(s: number | null | undefined): string {
  return s === null || s === undefined ? "-" : duration(s * 1000);
}

const MAX_INLINE = 160;

function scalar(v: unknown, key = ""): string {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number" && /(^|_)ms$/.test(key)) return duration(v);
  if (typeof v === "number" && /(^|_)seconds$/.test(key)) return seconds(v);
  if (typeof v === "string") {
    const flat = v.replace(/\s+/g, " ").trim();
    const cut = flat.length > MAX_INLINE ? `${flat.slice(0, MAX_INLINE - 1)}…` : flat;
    return /[\s=]/.test(cut) || cut === "" ? `"${cut}"` : cut;
  }
  return String(v);
}

/**
 * One line of `key=value` pairs, nested keys joined with dots: for event payloads and reports
 * shown next to other columns. Long strings are shortened.
 */
export function inline(value: unknown, prefix = ""): string {
  if (value === null || typeof value !== "object") return scalar(value, prefix);
  if (Array.isArray(value)) {
    if (value.every((x) => x === null || typeof x !== "object")) return `[${value.map((x) => scalar(x)).join(", ")}]`;
    return `[${value.length} item(s)]`;
  }
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) parts.push(inline(v, key));
    else parts.push(`${key}=${scalar(v, k)}`);
  }
  return parts.filter(Boolean).join(" ");
}

/**
 * An indented `key: value` block for a whole answer: objects nest by two spaces, lists of
 * objects become `-` items, lists of scalars one comma-separated line.
 */
export function block(value: unknown, indent = ""): string {
  if (value === null || typeof value !== "object") return `${indent}${scalar(value)}`;
  if (Array.isArray(value)) return value.map((item) => `${indent}- ${inline(item)}`).join("\n");
  const lines: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    const nested = v !== null && typeof v === "object";
    if (nested && Array.isArray(v) && v.some((x) => x !== null && typeof x === "object")) lines.push(`${indent}${k}:`, block(v, `${indent}  `));
    else if (nested && Array.isArray(v)) lines.push(`${indent}${k}: ${v.length ? v.map((x) => scalar(x)).join(", ") : "(none)"}`);
    else if (nested && Object.keys(v).length) lines.push(`${indent}${k}:`, block(v, `${indent}  `));
    else if (nested) lines.push(`${indent}${k}: (none)`);
    else lines.push(`${indent}${k}: ${scalar(v, k)}`);
  }
  return lines.join("\n");
}
