import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeCtx, type Ctx } from "../../../functions/lib/ctx.ts";
import { InboxWaiter, signalInbox } from "../../../functions/messages/notifier.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
let ctx: Ctx;
beforeEach(async () => {
  env = await makeTestEnv();
  ctx = makeCtx(env.services, { kind: "owner", tokenId: "tok_test" });
});
afterEach(() => env.close());

describe("InboxWaiter", () => {
  it("shares one notifier across every ctx of a Services", () => {
    expect(makeCtx(env.services, { kind: "anonymous" }).notifier).toBe(ctx.notifier);
  });

  it("wakes on its session's signal, not on another session's", async () => {
    const waiter = new InboxWaiter(ctx, "ses_a");
    const woke = waiter.wait(60_000);
    signalInbox(ctx, "ses_b");
    signalInbox(ctx, "ses_a");
    expect(await woke).toBe("notifier");
    waiter.close();
  });

  it("keeps a signal that arrived before wait, so a check-then-wait race loses nothing", async () => {
    const waiter = new InboxWaiter(ctx, "ses_a");
    signalInbox(ctx, "ses_a");
    expect(await waiter.wait(60_000)).toBe("notifier");
    // Consumed by that wait: the next one runs to its interval.
    expect(await waiter.wait(10)).toBe("interval");
    waiter.close();
  });

  it("ends a wait when the caller aborts, and stops listening when closed", async () => {
    const abort = new AbortController();
    const waiter = new InboxWaiter(ctx, "ses_a", abort.signal);
    const woke = waiter.wait(60_000);
    abort.abort();
    expect(await woke).toBe("aborted");
    waiter.close();
    signalInbox(ctx, "ses_a");
    expect(await waiter.wait(10)).toBe("aborted");
  });
});
