import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { researchTriggers } from "../../../functions/broker/policy.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { adviceRow, ingest, insertMessage, jobRow, requesterAndAdvisor, watch } from "./fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("researchTriggers", () => {
  it("finds requests for current or online information", () => {
    expect(researchTriggers("What is the latest version of vitest?")).toEqual(["latest"]);
    expect(researchTriggers("Can you look up the current pricing online?")).toEqual(["current pricing", "look up"]);
    expect(researchTriggers("Is https://example.com/changelog accurate today?")).toEqual(expect.arrayContaining(["today", "https://example.com/changelog"]));
  });

  it("ignores ordinary questions, including ones about the current task", () => {
    expect(researchTriggers("Should I split the module? My current approach is one file per route.")).toEqual([]);
    expect(researchTriggers("Tests fail with ECONNRESET after the retry change.")).toEqual([]);
  });
});

describe("fail-closed policy before drafting", () => {
  it("holds a request needing current information under the default deny policy, with the reason and no draft", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const msg = await insertMessage(env, {
      from: requester.session_id,
      to: advisor.session_id,
      body: "What is the latest release of hono and should we upgrade?",
    });
    const { advice_id, job_id } = await ingest(env, msg.id);
    const out = await watch(env);
    expect(out.processed[0]).toMatchObject({ state: "owner_input_required", policy_reason: expect.stringContaining("research_not_allowed") });
    const row = await adviceRow(env, advice_id);
    expect(row).toMatchObject({ state: "owner_input_required", draftText: null, draftMeta: { research_policy: "deny", policy_block: "research_not_allowed" } });
    expect(row.policyReason).toBe('research_not_allowed: the request asks for online/current information ("latest") and its research policy is deny');
    // The packet is stored so the owner can see what was held.
    expect(row.contextPacket).toMatchObject({ policy: { research: "deny" } });
    expect((await jobRow(env, job_id)).state).toBe("owner_input_required");
  });

  it("drafts the same request when it was ingested with research allowed", async () => {
    const { requester, advisor } = await requesterAndAdvisor(env);
    const msg = await insertMessage(env, {
      from: requester.session_id,
      to: advisor.session_id,
      body: "What is the latest release of hono and should we upgrade?",
    });
    const { advice_id } = await ingest(env, msg.id, { research_policy: "allow" });
    await watch(env);
    expect(await adviceRow(env, advice_id)).toMatchObject({
      state: "draft_ready",
      policyReason: null,
      draftMeta: { research_policy: "allow", drafter: "builtin" },
    });
  });

  it("holds a request that no session sent: the reply has no inbox", async () => {
    const { advisor } = await requesterAndAdvisor(env);
    const msg = await insertMessage(env, { from: null, to: advisor.session_id, body: "How do I do this?" });
    const { advice_id } = await ingest(env, msg.id);
    await watch(env);
    const row = await adviceRow(env, advice_id);
    expect(row.state).toBe("owner_input_required");
    expect(row.policyReason).toMatch(/^unknown_recipient: /);
  });

  it("holds a request whose requester was deregistered (unknown) or replaced by a namesake (ambiguous)", async () => {
    const advisor = await registerSession(env, "manager");
    const gone = await registerSession(env, "worker");
    const replaced = await registerSession(env, "worker");
    const a = await ingest(env, (await insertMessage(env, { from: gone.session_id, to: advisor.session_id, body: "Help?" })).id);
    const b = await ingest(env, (await insertMessage(env, { from: replaced.session_id, to: advisor.session_id, body: "Help?" })).id);
    await env.call("POST", `/v1/sessions/${gone.session.name}/deregister`);
    await env.call("POST", `/v1/sessions/${replaced.session.name}/deregister`);
    await registerSession(env, "worker", { name: replaced.session.name });
    await watch(env);
    expect((await adviceRow(env, a.advice_id)).policyReason).toBe(
      `unknown_recipient: the requester '${gone.session.name}' (${gone.session_id}) has been deregistered`,
    );
    expect((await adviceRow(env, b.advice_id)).policyReason).toMatch(
      new RegExp(`^ambiguous_recipient: the requester '${replaced.session.name}' \\(${replaced.session_id}\\) was deregistered and another live session`),
    );
    expect((await adviceRow(env, b.advice_id)).state).toBe("owner_input_required");
  });
});
