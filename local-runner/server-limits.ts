import type { Server } from "node:http";

/**
 * Limits of the HTTP server `switchyard up` runs, against clients that hold connections open
 * without finishing a request (slow headers, a body sent a byte at a time). They bound how a
 * request is *received*; an answer may still take long (inbox long polls wait up to 240 s).
 */
export interface ServerLimits {
  /** Time to receive a request's headers. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, headers and body. */
  requestTimeoutMs: number;
  /** How often open connections are checked against those two timeouts. */
  checkIntervalMs: number;
  /** Open connections at once; more are refused (long polls count, one each). */
  maxConnections: number;
}

export const SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  checkIntervalMs: 1_000,
  maxConnections: 1024,
};

/** The node:http createServer options that carry `limits` (the timeouts are checked on this interval). */
export function serverOptions(limits: ServerLimits) {
  return { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: limits.checkIntervalMs };
}

/** Applies the limits that are properties of a listening server. */
export function applyServerLimits(server: Server, limits: ServerLimits): void {
  server.maxConnections = limits.maxConnections;
}
