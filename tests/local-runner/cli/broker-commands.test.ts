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

  it("refuses a bad --research value and a token-create without its required options as usage errors", async () => {
    expect((await cli("broker", "poll-messages", "--research", "maybe")).code).toBe(EXIT_USAGE);
    expect((await cli("broker", "token-create", "run_x", "--to-session", "w1")).code).toBe(EXIT_USAGE);
  });
});
