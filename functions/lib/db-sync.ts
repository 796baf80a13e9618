// The database's durability setting, apart from db.ts so configuration code (the CLI's home
// resolution, the Deno entry) can validate it without loading the driver and schema.

/** The `synchronous` levels Switchyard accepts for file databases. */
export const SYNCHRONOUS_LEVELS = ["normal", "full"] as const;
export type SynchronousLevel = (typeof SYNCHRONOUS_LEVELS)[number];

/** Reads SWITCHYARD_DB_SYNCHRONOUS (`normal` or `full`, any case; unset or empty: the default). */
export function synchronousFromEnv(raw: string | undefined): SynchronousLevel | undefined {
  if (raw === undefined || raw === "") return undefined;
  const level = raw.toLowerCase();
  if ((SYNCHRONOUS_LEVELS as readonly string[]).includes(level)) return level as SynchronousLevel;
  throw new Error(`SWITCHYARD_DB_SYNCHRONOUS must be 'normal' or 'full', got '${raw}'`);
}
