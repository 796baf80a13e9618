import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTestEnv, type TestEnv } from "../../../helpers/services.ts";
import { BOUNDED_CONTRACT, runEventRows, runRow } from "./fixtures.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const create = (body: Record<string, unknown>, token?: string) => env.call("POST", "/v1/broker/runs", { body: { objective: "o", ...body }, token });

describe("broker run-create", () => {
  it("stores the runbook's bounded contract as given, in state created", async () => {
    const res = await create(BOUNDED_CONTRACT);
    expect(res.status).toBe(201);
    const run = res.body.run;
    expect(run).toMatchObject({
      mode: "overnight_dry_run",
      state: "created",
      target_session: "lily",
      owner_session_id: "owner",
      message_type: "request",
      expires_at: "2099-01-01T00:00:00.000Z",
      expired: false,
      limits: BOUNDED_CONTRACT.limits,
      stop_conditions: BOUNDED_CONTRACT.stop_conditions,
      validation: BOUNDED_CONTRACT.validation,
      approval_policy: { policy: "never_send", sends_allowed: false, daemon_may_approve: false, daemon_may_send: false },
      lease: { owner: null, expires_at: null, live: false },
    });
    const row = await runRow(env, res.body.run_id);
    expect(row.limits).toEqual(BOUNDED_CONTRACT.limits);
    expect((await runEventRows(env, row.id)).map((e) => e.kind)).toEqual(["run_created"]);
    expect(res.body.event_id).toBeTypeOf("number");
  });

  it("gives an overnight dry run a send budget of 0 when none is given", async () => {
    const res = await create({ mode: "overnight_dry_run" });
    expect(res.status).toBe(201);
    expect(res.body.run.limits).toEqual({ max_sends_total: 0, max_sends_per_thread: 0 });
  });

  it("refuses an overnight dry run with any send budget but 0", async () => {
    for (const limits of [{ max_sends_total: 1 }, { max_sends_per_thread: 2 }]) {
      const res = await create({ mode: "overnight_dry_run", limits });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
      expect(res.body.error.fields[0].field).toBe(`limits.${Object.keys(limits)[0]}`);
    }
  });

  it("always adds the budget and kill-switch stop conditions", async () => {
    const res = await create({ mode: "supervised", stop_conditions: ["missing_approval"] });
    expect(res.body.run.stop_conditions).toEqual(["missing_approval", "runtime_or_budget_limit", "owner_kill_switch"]);
    expect(res.body.run.approval_policy.policy).toBe("owner_approves_each_send");
  });

  it("checks the contract against its validation schema and lists every violation", async () => {
    const res = await create({
      mode: "supervised",
      stop_conditions: [],
      limits: { max_drafts_total: 50 },
      validation: {
        require_fields: ["owner_session_id", "expires_at"],
        require_stop_conditions: ["ambiguous_or_unknown_recipient"],
        limit_min: { max_runtime_minutes: 5 },
        limit_max: { max_drafts_total: 10 },
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([
      { field: "owner_session_id", message: "the validation schema requires owner_session_id to be set" },
      { field: "expires_at", message: "the validation schema requires expires_at to be set" },
      { field: "stop_conditions", message: "the validation schema requires stop condition ambiguous_or_unknown_recipient" },
      { field: "limits.max_runtime_minutes", message: "the validation schema bounds max_runtime_minutes (min 5) but it is not set" },
      { field: "limits.max_drafts_total", message: "max_drafts_total=50 is above the maximum 10" },
    ]);
  });

  it("accepts a contract that satisfies its schema and stores the schema", async () => {
    const validation = { require_fields: ["project"], require_stop_conditions: [], limit_min: { max_drafts_total: 1 }, limit_max: { max_drafts_total: 10 } };
    const res = await create({ mode: "supervised", project: "/p", limits: { max_drafts_total: 10 }, validation });
    expect(res.status).toBe(201);
    expect(res.body.run.validation).toEqual(validation);
  });

  it("refuses an expiry in the past, unknown limits and unknown stop conditions", async () => {
    const past = await create({ mode: "supervised", expires_at: "2020-01-01T00:00:00Z" });
    expect(past.status).toBe(400);
    expect(past.body.error.fields).toEqual([{ field: "expires_at", message: "2020-01-01T00:00:00Z is already past" }]);
    const unknownLimit = await create({ mode: "supervised", limits: { max_coffee: 1 } });
    expect(unknownLimit.body.error.fields).toEqual([{ field: "limits.max_coffee", message: "unknown field" }]);
    const unknownCondition = await create({ mode: "supervised", stop_conditions: ["full_moon"] });
    expect(unknownCondition.body.error.code).toBe("VALIDATION_FAILED");
    expect(unknownCondition.body.error.fields[0].field).toBe("stop_conditions.0");
  });

  it("is the owner's alone", async () => {
    const daemon = await create({ mode: "supervised" }, await env.mint("daemon"));
    expect(daemon.status).toBe(403);
    expect(daemon.body.error.code).toBe("FORBIDDEN");
    const runner = await create({ mode: "supervised" }, await env.mint("runner", "test-host"));
    expect(runner.status).toBe(403);
  });
});
