/** True when a driver error (possibly wrapped by drizzle) is a UNIQUE or PRIMARY KEY violation. */
export function isUniqueViolation(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const err = cur as { code?: unknown; extendedCode?: unknown; message?: unknown; cause?: unknown };
    if (err.extendedCode === "SQLITE_CONSTRAINT_UNIQUE" || err.extendedCode === "SQLITE_CONSTRAINT_PRIMARYKEY") return true;
    if (typeof err.message === "string" && /UNIQUE constraint failed/.test(err.message)) return true;
    cur = err.cause;
  }
  return false;
}

/** Converts stored ms to the wire's ISO-8601 form (null stays null). */
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}
