import { pino, type DestinationStream, type Logger as Pino } from "pino";
import type { Logger } from "../functions/lib/ctx.ts";

/** Log levels `SWITCHYARD_LOG_LEVEL` accepts. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/**
 * Keys whose values never reach a log line, wherever a caller put them: the access log never
 * passes them, this is the second lock (pino's redact, which also covers one level of nesting).
 */
const REDACT = ["authorization", "cookie", "token", "secret", "password", "body"].flatMap((k) => [k, `*.${k}`]);

function adapt(p: Pino): Logger {
  return {
    info: (msg, data) => p.info(data ?? {}, msg),
    warn: (msg, data) => p.warn(data ?? {}, msg),
    error: (msg, data) => p.error(data ?? {}, msg),
    child: (bindings) => adapt(p.child(bindings)),
  };
}

/**
 * The JSON-lines logger of long-running processes (`up`, `dispatch`, `runner`), built on pino:
 * one object per line with an ISO time, the level as a word, pid and host name, and the
 * entry's fields. Writes to stderr (synchronously, so nothing is lost when the process exits)
 * unless given another destination (tests).
 */
export function pinoLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  const level = opts.level ?? process.env.SWITCHYARD_LOG_LEVEL ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new Error(`SWITCHYARD_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got '${level}'`);
  }
  const p = pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: "[redacted]" },
    },
    opts.destination ?? pino.destination({ fd: 2, sync: true }),
  );
  return adapt(p);
}
