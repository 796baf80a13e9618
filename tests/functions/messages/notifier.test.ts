import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeCtx, type Ctx } from "../../../functions/lib/ctx.ts";
import { InboxNotifier } from "../../../functions/lib/notifier.ts";
import { signalInbox } from "../../../functions/messages/notifier.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
let ctx: Ctx;
beforeEach(async () => {
  env = await makeTestEnv();
  ctx = makeCtx(env.services, { kind: "owner", tokenId: "tok_test" });
});
afterEach(() => env.close());

const settled = async <T>(p: Promise<T>, ms = 50): Promise<T | "pending"> =>
  Promise.race([p, new Promise<"pending">((r) => setTimeout(() => r("pending"), ms))]);

describe("InboxNotifier", () => {
  it("shares one notifier across every ctx of a Services", () => {
    expect(makeCtx(env.services, { kind: "anonymous" }).notifier).toBe(ctx.notifier);
  });

  it("wakes the head consumer on its inbox's signal, not on another inbox's", async () => {
    const turn = ctx.notifier!.consumer("ses_a");
    expect(turn.isHead).toBe(true);
    const woke = turn.next(60_000);
    signalInbox(ctx, "ses_b");
    expect(await settled(woke)).toBe("pending");
    signalInbox(ctx, "ses_a");
    expect(await woke).toBe("notifier");
    turn.leave();
  });

  it("keeps a signal that arrived before the wait, so a check-then-wait race loses nothing", async () => {
    const turn = ctx.notifier!.consumer("ses_a");
    signalInbox(ctx, "ses_a");
    expect(await turn.next(60_000)).toBe("notifier");
    // Consumed by that wait: the next one runs to its timer.
    expect(await turn.next(10)).toBe("interval");
    turn.leave();
  });

  it("wakes one consumer per signal: the head; the next one only when the head leaves", async () => {
    const n = new InboxNotifier();
    const turns = Array.from({ length: 50 }, () => n.consumer("ses_a"));
    expect(turns.map((t) => t.isHead)).toEqual([true, ...Array(49).fill(false)]);
    const waits = turns.map((t) => t.next(60_000));
    n.signal("ses_a");
    expect(await waits[0]).toBe("notifier");
    expect(await Promise.all(waits.slice(1).map((w) => settled(w)))).toEqual(Array(49).fill("pending"));
    // The head took its item and leaves: the second is handed the turn (and checks at once).
    turns[0]!.leave();
    expect(turns[1]!.isHead).toBe(true);
    expect(await waits[1]).toBe("notifier");
    expect(await Promise.all(waits.slice(2).map((w) => settled(w)))).toEqual(Array(48).fill("pending"));
    for (const t of turns) t.leave();
    expect(n.waiting("ses_a")).toEqual({ consumers: 0, watchers: 0 });
  });

  it("wakes every watcher (they only read)", async () => {
    const n = new InboxNotifier();
    const watches = Array.from({ length: 20 }, () => n.watch("ses_a"));
    const waits = watches.map((w) => w.next(60_000));
    n.signal("ses_a");
    expect(await Promise.all(waits)).toEqual(Array(20).fill("notifier"));
    for (const w of watches) w.leave();
    expect(n.waiting("ses_a")).toEqual({ consumers: 0, watchers: 0 });
  });

  it("takes hundreds of waiters on one inbox without a MaxListenersExceeded warning", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      // One abort signal per request, as the HTTP server gives each its own.
      const aborts = Array.from({ length: 300 }, () => new AbortController());
      const n = new InboxNotifier();
      const turns = aborts.map((a) => n.consumer("ses_a", a.signal));
      const waits = turns.map((t) => t.next(60_000));
      for (const a of aborts) a.abort();
      expect(await Promise.all(waits)).toEqual(Array(300).fill("aborted"));
      for (const t of turns) t.leave();
      // Warnings are emitted on the next tick.
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it("ends a wait when the caller aborts, and hands the turn on when the head leaves", async () => {
    const abort = new AbortController();
    const n = new InboxNotifier();
    const head = n.consumer("ses_a", abort.signal);
    const second = n.consumer("ses_a");
    const woke = head.next(60_000);
    abort.abort();
    expect(await woke).toBe("aborted");
    head.leave();
    expect(second.isHead).toBe(true);
    expect(await second.next(60_000)).toBe("notifier");
    second.leave();
  });
});
