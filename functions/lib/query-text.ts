/**
 * A value as a query string carries it. A finite number is written in plain decimal digits:
 * String() gives 1e-7 for 0.0000001 and 1e+21 for 10^21, forms the API's number fields refuse
 * (queryNumber in functions/lib/names.ts). Anything else is String(value). No imports, so the
 * CLI's small read bundle can use it.
 */
export function queryText(value: unknown): string {
  const text = String(value);
  if (typeof value !== "number" || !Number.isFinite(value) || !/e/i.test(text)) return text;
  return value.toLocaleString("en-US", { useGrouping: false, maximumFractionDigits: 20 });
}
