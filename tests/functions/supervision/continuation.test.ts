import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { eventsOf, supervised } from "./helpers.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const separated = (reviewer = "reviewer-1") => ({ reviewer_session_id: reviewer, manager_rollout_access: false });

describe("continuations", () => {
  it("is worker-first, one proposal per role and turn, and each session submits only as itself", async () => {
    const t = await supervised(env);
    const early = await t.post("continuations/manager", { correlation_id: "turn-1", payload: { next: "ship" } }, t.manager.token);
    expect(early.status).toBe(409);
    expect(early.body.error.hint).toContain("worker-first");
    expect((await t.post("continuations/worker", { correlation_id: "turn-1", payload: { next: "x" } }, t.manager.token)).status).toBe(403);
    const w = await t.post("continuations/worker", { correlation_id: "turn-1", payload: { next: "add metrics" } }, t.worker.token);
    expect(w.status).toBe(201);
    expect((await t.post("continuations/worker", { correlation_id: "turn-1", payload: { next: "again" } }, t.worker.token)).status).toBe(409);
    expect((await t.post("continuations/manager", { correlation_id: "turn-1", payload: { next: "ship" } }, t.manager.token)).status).toBe(201);
    expect((await eventsOf(env, t.taskId, "continuation_submitted")).map((e) => e.payload.role)).toEqual(["worker", "manager"]);
    expect((await t.post("continuations/worker", { correlation_id: "bad id!", payload: {} })).status).toBe(400);
  });

  it("redacts the worker's proposal from the manager until the manager submits its own", async () => {
    const t = await supervised(env);
    await t.post("continuations/worker", { correlation_id: "turn-1", payload: { next: "add metrics" } }, t.worker.token);
    const asManager = await env.call("GET", `${t.path("continuations")}?include_payload=true`, { token: t.manager.token });
    expect(asManager.body.as_role).toBe("manager");
    expect(asManager.body.proposals).toEqual([expect.objectContaining({ role: "worker", redacted: true, payload: null })]);
    // A session cannot pick another role to read as.
    expect(
      (await env.call("GET", `${t.path("continuations")}?include_payload=true&as_role=reviewer`, { token: t.manager.token })).body.proposals[0].redacted,
    ).toBe(true);
    const asOwner = await env.call("GET", `${t.path("continuations")}?include_payload=true&as_role=manager`);
    expect(asOwner.body.proposals[0]).toMatchObject({ redacted: true, payload: null });
    expect((await env.call("GET", `${t.path("continuations")}?include_payload=true`)).body.proposals[0]).toMatchObject({
      redacted: false,
      payload: { next: "add metrics" },
    });
    // Without include_payload nobody gets payloads.
    expect((await env.call("GET", t.path("continuations"))).body.proposals[0]).toMatchObject({ redacted: false, payload: null });

    await t.post("continuations/manager", { correlation_id: "turn-1", payload: { next: "ship" } }, t.manager.token);
    const after = await env.call("GET", `${t.path("continuations")}?include_payload=true`, { token: t.manager.token });
    expect(after.body.proposals.map((p: any) => [p.role, p.redacted, p.payload?.next])).toEqual([
      ["worker", false, "add metrics"],
      ["manager", false, "ship"],
    ]);
    // A later turn is redacted again until the manager answers it.
    await t.post("continuations/worker", { correlation_id: "turn-2", payload: { next: "docs" } }, t.worker.token);
    const turn2 = await env.call("GET", `${t.path("continuations")}?include_payload=true&correlation_id=turn-2`, { token: t.manager.token });
    expect(turn2.body.proposals).toEqual([expect.objectContaining({ role: "worker", redacted: true })]);
  });

  it("needs context.spawn_reviewer, both proposals and reviewer separation to record a review", async () => {
    const t = await supervised(env);
    await t.post("continuations/worker", { correlation_id: "turn-1", payload: { next: "a" } }, t.worker.token);
    const review = (body: Record<string, unknown>) => t.post("continuations/turn-1/review", { verdict: "proceed", subagent_run: separated(), ...body });
    expect((await review({})).body.error).toMatchObject({ code: "POLICY_REFUSED", message: expect.stringContaining("context.spawn_reviewer") });
    await t.post("manager-config", { permit: ["context.spawn_reviewer"] });
    expect((await review({})).body.error.message).toContain("missing: manager");
    await t.post("continuations/manager", { correlation_id: "turn-1", payload: { next: "b" } }, t.manager.token);
    const same = await review({ subagent_run: separated(t.manager.session_id) });
    expect(same.body.error.fields).toEqual([{ field: "subagent_run.reviewer_session_id", message: "must differ from the manager session" }]);
    const access = await review({ subagent_run: { reviewer_session_id: "r", manager_rollout_access: true } });
    expect(access.body.error.fields).toEqual([{ field: "subagent_run.manager_rollout_access", message: "must be false" }]);
    const ok = await review({ verdict: "revise", rationale: "proposals diverge" });
    expect(ok.status).toBe(201);
    expect(ok.body.review).toMatchObject({ verdict: "revise", operator_attention: true, reviewer_session_id: "reviewer-1" });
    await t.post("manager-config", { nudge_on_completion: "auto-proceed" });
    expect((await review({ verdict: "revise" })).body.review.operator_attention).toBe(false);
    const list = await env.call("GET", `${t.path("continuations")}?include_payload=true`);
    expect(list.body.reviews.map((r: any) => r.verdict).sort()).toEqual(["revise", "revise"]);
    const ctxRes = await t.get("continuations/turn-1/reviewer-context");
    expect(ctxRes.body).toMatchObject({ correlation_id: "turn-1", proposals: { worker: { next: "a" }, manager: { next: "b" } } });
    expect(ctxRes.body.excluded).toContain("manager rollout and transcript");
    expect((await t.get("continuations/turn-1/reviewer-context", t.manager.token)).status).toBe(403);
  });

  it("lists every review of a turn however many the other turns got, and caps a turn at 20", async () => {
    const t = await supervised(env);
    await t.post("manager-config", { permit: ["context.spawn_reviewer"] });
    for (const turn of ["turn-1", "turn-2"]) {
      await t.post("continuations/worker", { correlation_id: turn, payload: { next: "a" } }, t.worker.token);
      await t.post("continuations/manager", { correlation_id: turn, payload: { next: "b" } }, t.manager.token);
    }
    const review = (turn: string, verdict: string) => t.post(`continuations/${turn}/review`, { verdict, subagent_run: separated() });
    expect((await review("turn-1", "revise")).status).toBe(201);
    for (let i = 0; i < 19; i++) expect((await review("turn-1", "proceed")).status).toBe(201);
    for (let i = 0; i < 20; i++) expect((await review("turn-2", "proceed")).status).toBe(201);
    // A turn takes 20 reviews, so none can be buried under newer ones of the same turn either.
    const over = await review("turn-1", "proceed");
    expect(over.status).toBe(409);
    expect(over.body.error.message).toContain("already has 20 reviews");
    const list = (await env.call("GET", t.path("continuations"))).body;
    const verdicts = list.reviews.filter((r: any) => r.correlation_id === "turn-1").map((r: any) => r.verdict);
    expect(verdicts).toHaveLength(20);
    expect(verdicts).toContain("revise");
    expect(list.reviews).toHaveLength(40);
  });
});
