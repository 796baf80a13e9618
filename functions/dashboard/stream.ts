import { z } from "@hono/zod-openapi";
import { queryNumber } from "../lib/names.ts";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { desc, eq, gt } from "drizzle-orm";
import { tokens } from "../../schema/auth.ts";
import { telemetryEvents } from "../../schema/telemetry.ts";
import { tokenIsLive } from "../lib/auth.ts";
import type { Ctx } from "../lib/ctx.ts";
import type { Database } from "../lib/db.ts";
import type { AppEnv } from "../lib/env.ts";
import { defineRoute } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { watermark } from "./overview.ts";

export const StreamQuery = z.object({
  interval_ms: queryNumber(z.number().int().min(100).max(5000))
    .optional()
    .default(500)
    .openapi({ description: "How often the server checks for changes (default 500 ms)" }),
});

const Change = z
  .object({
    watermark: z.string(),
    at: z.string(),
    recent: z.array(z.object({ id: z.number().int(), source: z.string(), kind: z.string(), outcome: z.string(), summary: z.string(), created_at: z.string() })),
  })
  .openapi("DashboardChange");

export const streamRoute = defineRoute(
  ["owner"],
  {
    method: "get",
    path: "/dashboard/stream",
    tags: ["dashboard"],
    summary: "Server-sent events: a `change` event whenever the dashboard's data changes",
    description:
      "With `Accept: text/event-stream` the answer is a stream: `change` events (the new watermark and the newest telemetry summaries) as soon as a write lands, and a `ping` comment every 15 s. The token is checked again before every change and every ping: once it is revoked (or its rotation grace is over) the stream sends one `error` event and ends. Otherwise one JSON snapshot of the watermark. The check is two primary-key lookups per interval, shared by every stream of this process. Owner only; send the token as a bearer header (the page uses a fetch stream, never a token in the URL).",
    request: { query: StreamQuery },
    responses: {
      200: {
        description: "An event stream, or one change as JSON",
        content: { "application/json": { schema: Change }, "text/event-stream": { schema: z.string() } },
      },
    },
  },
  { rateLimited: true, deadline: "own" },
);

/** The newest telemetry rows after `afterId` (summaries only), newest first. */
async function recentAfter(ctx: Ctx, afterId: number) {
  const rows = await ctx.db.select().from(telemetryEvents).where(gt(telemetryEvents.id, afterId)).orderBy(desc(telemetryEvents.id)).limit(20);
  return rows.map((r) => ({ id: r.id, source: r.source, kind: r.kind, outcome: r.outcome, summary: r.summary, created_at: iso(r.createdAt)! }));
}

/** One snapshot, for a client that did not ask for a stream. */
export async function streamSnapshot(ctx: Ctx) {
  const mark = await watermark(ctx);
  return { watermark: mark, at: iso(ctx.now().getTime())!, recent: await recentAfter(ctx, Math.max(0, Number(mark.split(".")[0]) - 20)) };
}

/**
 * Polls the watermark for every open stream of one database: one pair of lookups per tick
 * whatever the number of streams, and no polling at all while none is open.
 */
class Watcher {
  private subs = new Set<(mark: string) => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private last = "";
  constructor(
    private ctx: Ctx,
    private intervalMs: number,
  ) {}

  subscribe(fn: (mark: string) => void): () => void {
    this.subs.add(fn);
    if (!this.timer) this.schedule();
    return () => {
      this.subs.delete(fn);
      if (!this.subs.size && this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
    };
  }

  private schedule() {
    this.timer = setTimeout(async () => {
      try {
        const mark = await watermark(this.ctx);
        if (mark !== this.last) {
          this.last = mark;
          for (const fn of this.subs) fn(mark);
        }
      } catch (e) {
        this.ctx.log.warn("dashboard watcher could not read the watermark", { error: (e as Error).message });
      }
      if (this.subs.size) this.schedule();
      else this.timer = null;
    }, this.intervalMs);
  }
}

const watchers = new WeakMap<Database, Map<number, Watcher>>();

function watcherFor(ctx: Ctx, intervalMs: number): Watcher {
  let byInterval = watchers.get(ctx.database);
  if (!byInterval) {
    byInterval = new Map();
    watchers.set(ctx.database, byInterval);
  }
  let w = byInterval.get(intervalMs);
  if (!w) {
    w = new Watcher(ctx, intervalMs);
    byInterval.set(intervalMs, w);
  }
  return w;
}

/** Seconds between keep-alive comments, so proxies and idle timeouts leave the stream open. */
const PING_MS = 15_000;

/**
 * Whether the token that opened the stream is still accepted now (not revoked, or a rotation's
 * grace not yet over): auth ran once at the start, and a stream outlives it.
 */
async function stillLive(ctx: Ctx): Promise<boolean> {
  if (ctx.auth.kind === "anonymous") return false;
  const [row] = await ctx.db.select({ revokedAt: tokens.revokedAt }).from(tokens).where(eq(tokens.id, ctx.auth.tokenId)).limit(1);
  return !!row && tokenIsLive(row, ctx.now().getTime());
}

/**
 * The stream: the current watermark first, then one `change` per change. The token is checked
 * again before every change and with every ping; once it is no longer live the stream sends one
 * `error` event, whose data is the error envelope `{"error":{"code","message","hint"}}`, and ends.
 */
export function dashboardStream(c: Context<AppEnv>, ctx: Ctx, q: z.output<typeof StreamQuery>) {
  return streamSSE(c, async (stream) => {
    let lastId = 0;
    let queue: Promise<void> = Promise.resolve();
    let ended = false;
    let end: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      end = resolve;
    });
    stream.onAbort(() => end());
    /** Ends the stream when the token is gone; true when it may go on. */
    const checkToken = async () => {
      if (ended) return false;
      const live = await stillLive(ctx);
      if (live) return true;
      ended = true;
      await stream
        .writeSSE({
          event: "error",
          // The same envelope as every refusal over HTTP, so one reader handles both.
          data: JSON.stringify({
            error: { code: "UNAUTHENTICATED", message: "this token is no longer live", hint: "Sign in again with a live owner token." },
          }),
        })
        .catch(() => {});
      end();
      return false;
    };
    const send = (mark: string) => {
      // Writes are chained so two changes never interleave on the wire.
      queue = queue.then(async () => {
        if (!(await checkToken())) return;
        const top = Number(mark.split(".")[0]);
        // The first event carries the latest rows too, so a fresh page has an activity feed.
        const recent = await recentAfter(ctx, lastId || Math.max(0, top - 20));
        lastId = top;
        await stream.writeSSE({ event: "change", data: JSON.stringify({ watermark: mark, at: iso(ctx.now().getTime()), recent }) });
      });
    };
    send(await watermark(ctx));
    const unsubscribe = watcherFor(ctx, q.interval_ms).subscribe(send);
    const ping = setInterval(() => {
      queue = queue.then(async () => {
        if (await checkToken()) await stream.write(": ping\n\n").catch(() => {});
      });
    }, PING_MS);
    await closed;
    clearInterval(ping);
    unsubscribe();
    await queue.catch(() => {});
  });
}
