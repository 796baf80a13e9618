import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { cliSandbox } from "../../helpers/cli.ts";

const sb = cliSandbox("broker-cli");
const cli = sb.cli;

describe("the manual advice loop from the command line", () => {
  it("poll, draft, review, approve, send — and the refusals along the way", async () => {
    expect((await cli("register-worker", "--name", "w1")).code).toBe(EXIT_OK);
    expect((await cli("register-manager", "--name", "lily")).code).toBe(EXIT_OK);
    const asked = await cli("request", "lily", "How should I split the session module? I tried one file.", "--from", "w1", "--project", "/p", "--json");
    expect(asked.code).toBe(EXIT_OK);
    const messageId = JSON.parse(asked.out).message_id as string;

    const dry = await cli("broker", "poll-messages", "--project", "/p", "--to-session", "lily", "--dry-run");
    expect(dry.out).toContain(messageId);
    expect(dry.out).toContain("1 candidate(s); dry run, nothing ingested");

    const polled = JSON.parse((await cli("broker", "poll-messages", "--to-session", "lily", "--json")).out);
    const adviceId = polled.ingested[0].advice_id as string;
    const jobId = polled.ingested[0].job_id as string;
    expect((await cli("broker", "ingest-message", messageId)).out).toBe(`already ingested ${messageId} -> advice ${adviceId} (job ${jobId}, queued)`);

    expect((await cli("orchestrator", "watch")).code).toBe(EXIT_USAGE);
    const watched = await cli("orchestrator", "watch", "--once");
    expect(watched.out).toContain(`${jobId} advice=${adviceId} attempt 1: draft_ready`);
    expect((await cli("orchestrator", "status")).out).toContain("draft_ready=1");
    expect((await cli("orchestrator", "jobs", "--status", "draft_ready")).out).toContain(jobId);
    expect((await cli("orchestrator", "show", jobId)).out).toMatch(/job_claimed[\s\S]*draft_ready/);

    expect((await cli("broker", "queue")).out).toContain(`${adviceId}  draft_ready`);
    const review = await cli("broker", "review", adviceId, "--with-context");
    expect(review.out).toContain("draft:\nAdvice for w1");
    expect(review.out).toContain("context packet:");

    const early = await cli("broker", "send-approved", adviceId);
    expect(early.code).toBe(EXIT_FAILED);
    expect(early.err).toContain("error: CONFLICT: advice");

    expect((await cli("broker", "approve", adviceId, "--edit", "Split by route; keep shared types together.")).out).toBe(
      `approved ${adviceId}; send it with: switchyard broker send-approved ${adviceId}`,
    );
    const sent = await cli("broker", "send-approved", adviceId);
    expect(sent.out).toMatch(new RegExp(`^sent ${adviceId} as message msg_${adviceId} \\(inbox item inb_`));
    expect((await cli("broker", "send-approved", adviceId)).out).toMatch(/^already sent/);
    expect((await cli("session-inbox", "w1")).out).toContain("Split by route; keep shared types together.");
  });

  it("send-with-token: a scoped_auto_send run's advice goes out on an approval token, one use per send, then overused", async () => {
    expect((await cli("register-worker", "--name", "w1")).code).toBe(EXIT_OK);
    expect((await cli("register-manager", "--name", "lily")).code).toBe(EXIT_OK);
    const runId = JSON.parse((await cli("broker", "run-create", "--mode", "scoped_auto_send", "--objective", "bounded auto-send", "--json")).out).run_id;
    expect((await cli("broker", "run-start", runId)).code).toBe(EXIT_OK);
    /** Asks lily a question (in `thread` when given), ingests it for the run and drafts it; returns the advice and thread. */
    const askAndDraft = async (question: string, thread?: string) => {
      const asked = JSON.parse((await cli("request", "lily", question, "--from", "w1", ...(thread ? ["--thread", thread] : []), "--json")).out);
      const polled = JSON.parse((await cli("broker", "poll-messages", "--to-session", "lily", "--run-id", runId, "--json")).out);
      expect((await cli("orchestrator", "watch", "--once", "--run-id", runId)).code).toBe(EXIT_OK);
      return { adviceId: polled.ingested[0].advice_id as string, thread: asked.thread_id as string };
    };
    const first = await askAndDraft("How should I split the session module? I tried one file.");
    const minted = JSON.parse(
      (await cli("broker", "token-create", runId, "--to-session", "w1", "--thread-id", first.thread, "--max-uses", "1", "--expires-minutes", "30", "--json"))
        .out,
    );
    const secretFile = join(sb.home, "..", "approval.secret");
    writeFileSync(secretFile, `${minted.secret}\n`, { mode: 0o600 });

    const sent = await cli("broker", "send-with-token", first.adviceId, "--run-id", runId, "--approval-token-file", secretFile);
    expect(sent.code).toBe(EXIT_OK);
    expect(sent.out).toMatch(new RegExp(`^sent ${first.adviceId} as message msg_${first.adviceId} .*token ${minted.token_id} used 1/1$`));
    expect((await cli("session-inbox", "w1")).out).toContain("Advice for w1");

    const second = await askAndDraft("And where should the retry loop live?", first.thread);
    const over = await cli("broker", "send-with-token", second.adviceId, "--run-id", runId, "--approval-token", minted.secret);
    expect(over.code).toBe(EXIT_FAILED);
    expect(over.err).toContain("approval token refused: overused");
    expect((await cli("broker", "review", second.adviceId)).out).toMatch(/draft_ready/);

    expect((await cli("broker", "send-with-token", second.adviceId, "--run-id", runId)).code).toBe(EXIT_USAGE);
    const both = await cli("broker", "send-with-token", second.adviceId, "--run-id", runId, "--approval-token", "x", "--approval-token-file", secretFile);
    expect([both.code, both.err]).toEqual([EXIT_USAGE, expect.stringContaining("exactly one of --approval-token")]);
  });

  it("refuses a bad --research value and a token-create without its required options as usage errors", async () => {
    expect((await cli("broker", "poll-messages", "--research", "maybe")).code).toBe(EXIT_USAGE);
    expect((await cli("broker", "token-create", "run_x", "--to-session", "w1")).code).toBe(EXIT_USAGE);
  });
});
