import { describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_TIMED_OUT, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { cliSandbox } from "../../helpers/cli.ts";

const sb = cliSandbox("cli-msg");
const cli = sb.cli;

describe("messages and inbox commands", () => {
  it("send, list, consume and reply through the CLI; an empty wait exits 3 with item null", async () => {
    expect((await cli("register-worker", "--name", "w1")).code).toBe(EXIT_OK);
    expect((await cli("register-manager", "--name", "m1")).code).toBe(EXIT_OK);
    const sent = await cli("request", "m1", "may I refactor?", "--subject", "scope", "--from", "w1");
    expect(sent.code).toBe(EXIT_OK);
    expect(sent.out).toMatch(/^sent request msg_\w+ to m1 on thr_\w+; inbox item inb_\w+, pull_required/);

    const listed = await cli("session-inbox", "m1");
    expect(listed.out).toMatch(
      /^m1 \(manager\): 1 pending\ninb_\w+ message pull_required from=w1 to=m1 delivered=- corr=cor_\w+ request "scope" may I refactor\?$/,
    );

    const consumed = await cli("session-inbox", "m1", "--consume-next", "--json");
    expect(consumed.code).toBe(EXIT_OK);
    const body = JSON.parse(consumed.out);
    expect(body).toMatchObject({ session: "m1", timed_out: false, item: { signal_type: "message", payload: { body: "may I refactor?" } } });

    const empty = await cli("session-inbox", "m1", "--consume-next", "--wait", "--timeout", "0.1", "--interval", "0.1", "--json");
    // A wait that timed out has its own exit code (3), so a polling loop needs no JSON parsing.
    expect(empty.code).toBe(EXIT_TIMED_OUT);
    expect(JSON.parse(empty.out)).toMatchObject({ item: null, timed_out: true });
    // String(0.0000001) is "1e-7", which the API's number fields refuse: the CLI writes plain digits.
    const tiny = await cli("session-inbox", "m1", "--wait", "--timeout", "0.0000001", "--json");
    expect(tiny.err).not.toMatch(/invalid|decimal digits/);
    expect(tiny.code).toBe(EXIT_TIMED_OUT);
    const emptyText = await cli("session-inbox", "m1", "--consume-next");
    expect(emptyText.out).toBe("no item for m1");

    const reply = await cli("reply", body.item.message_id, "yes");
    expect(reply.out).toMatch(/^sent reply msg_\w+ to w1 on /);
    const thread = await cli("messages", "--thread", body.item.payload.thread_id);
    expect(thread.out.split("\n")).toHaveLength(2);
    expect(thread.out).toMatch(/request\s+w1 -> m1: \[scope\] may I refactor\?\n.*reply\s+m1 -> w1: \[Re: scope\] yes$/);
  });

  it("--consume-next --idempotency-key: running it again with the key gets the same item, a new key the next", async () => {
    await cli("register-manager", "--name", "m3");
    await cli("send", "m3", "first");
    await cli("send", "m3", "second");
    const take = async (key: string) => {
      const r = await cli("session-inbox", "m3", "--consume-next", "--idempotency-key", key, "--json");
      expect(r.code).toBe(EXIT_OK);
      return JSON.parse(r.out);
    };
    const first = await take("poll-1");
    expect(first.item.payload.body).toBe("first");
    // The answer was lost, say: the same command again hands back the same item.
    expect(await take("poll-1")).toEqual(first);
    expect((await take("poll-2")).item.payload.body).toBe("second");
    expect((await cli("session-inbox", "m3", "--json")).out).toContain('"pending": 0');
  });

  it("reaches a task's bound manager, and fails or refuses usage clearly", async () => {
    await cli("register-worker", "--name", "w2");
    await cli("register-manager", "--name", "m2");
    await cli("tasks", "--create", "t2", "--goal", "g");
    const unbound = await cli("manager-inbox", "t2");
    expect(unbound.code).toBe(EXIT_FAILED);
    expect(unbound.err).toMatch(/hint: Bind a worker and a manager/);
    await cli("bind", "--task", "t2", "--worker", "w2", "--manager", "m2");
    await cli("send", "m2", "ping", "--type", "ping");
    const m = await cli("manager-inbox", "t2", "--json");
    expect(JSON.parse(m.out)).toMatchObject({ session: "m2", task: "t2", pending: 1 });
    const bad = await cli("session-inbox", "m2", "--consume-next", "--wait", "--timeout", "soon");
    expect(bad.code).toBe(EXIT_USAGE);
    expect(bad.err).toContain("--timeout must be a number of seconds, got 'soon'");
    const stray = await cli("session-inbox", "m2", "--idempotency-key", "k1");
    expect(stray.code).toBe(EXIT_USAGE);
    expect(stray.err).toContain("--idempotency-key applies to --consume-next only");
    for (const key of ["ключ", " padded ", "x".repeat(201)]) {
      const bad = await cli("session-inbox", "m2", "--consume-next", "--idempotency-key", key);
      expect(bad.code, key).toBe(EXIT_USAGE);
      expect(bad.err).toContain("--idempotency-key must be 1 to 200 printable ASCII characters");
    }
    // A key another client made with inner spaces can still be retried from the CLI.
    for (const key of ["two words"]) {
      expect((await cli("session-inbox", "m2", "--consume-next", "--idempotency-key", key, "--json")).code).toBe(EXIT_OK);
    }
    const nobody = await cli("send", "nobody", "x");
    expect(nobody.code).toBe(EXIT_FAILED);
    expect(nobody.err).toContain("error: NOT_FOUND: no active session named 'nobody'");
  });
});
