import { parseCriteriaText } from "../../../functions/supervision/criteria-plan.ts";
import { runWithDeadline } from "../../helpers/child-deadline.ts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { eventsOf, supervised } from "./helpers.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("criteria ledger", () => {
  it("adds, accepts, defers, rejects and satisfies, each returning affected_criterion and writing an audit row", async () => {
    const t = await supervised(env);
    const add = (criterion: string, extra: Record<string, unknown> = {}) => t.post("criteria", { criterion, source: "worker_proposed", ...extra });
    const a = await add("login keeps working");
    expect(a.status).toBe(201);
    expect(a.body.affected_criterion).toMatchObject({ criterion: "login keeps working", status: "proposed", source: "worker_proposed", evidence: null });
    const id = a.body.affected_criterion.id;
    const b = (await add("docs updated", { source: "manager_inferred", status: "accepted" })).body.affected_criterion.id;
    const c = (await add("dark mode")).body.affected_criterion.id;

    const accepted = await t.post(`criteria/${id}`, { action: "accept", rationale: "must-have" });
    expect(accepted.body).toMatchObject({ previous_status: "proposed", affected_criterion: { id, status: "accepted", rationale: "must-have" } });
    expect((await t.post(`criteria/${c}`, { action: "defer", rationale: "follow-up" })).body.affected_criterion.status).toBe("deferred");
    expect((await t.post(`criteria/${b}`, { action: "reject", rationale: "duplicate" })).body.affected_criterion.status).toBe("rejected");
    const satisfied = await t.post(`criteria/${id}`, { action: "satisfy", evidence: { command: "npm test", status: "pass" } });
    expect(satisfied.body.affected_criterion).toMatchObject({ status: "satisfied", evidence: { command: "npm test", status: "pass" }, evidence_type: null });

    const list = await t.get("criteria");
    expect(list.body.summary).toEqual({ proposed: 0, accepted: 0, satisfied: 1, deferred: 1, rejected: 1 });
    expect(list.body.criteria.map((x: any) => x.id)).toEqual([id, b, c]);
    expect((await t.get("criteria?status=deferred")).body.criteria.map((x: any) => x.id)).toEqual([c]);
    const kinds = ["criterion_added", "criterion_accepted", "criterion_deferred", "criterion_rejected", "criterion_satisfied"];
    const counts = await Promise.all(kinds.map(async (k) => (await eventsOf(env, t.taskId, k)).length));
    expect(counts).toEqual([3, 1, 1, 1, 1]);
    expect((await eventsOf(env, t.taskId, "criterion_satisfied"))[0]!.payload).toMatchObject({
      criterion_id: id,
      previous_status: "accepted",
      evidence: { command: "npm test" },
    });
  });

  it("refuses transitions that do not apply and writes nothing for them", async () => {
    const t = await supervised(env);
    const id = (await t.post("criteria", { criterion: "x", source: "manager_inferred", status: "deferred" })).body.affected_criterion.id;
    const r = await t.post(`criteria/${id}`, { action: "satisfy", evidence: { status: "pass" } });
    expect(r.status).toBe(409);
    expect(r.body.error.hint).toContain(`--accept ${id}`);
    expect((await t.post(`criteria/${id}`, { action: "satisfy" })).status).toBe(400);
    expect((await t.post(`criteria/${id}`, { action: "satisfy", evidence: {} })).status).toBe(400);
    expect((await t.post("criteria/999", { action: "accept" })).status).toBe(404);
    expect((await eventsOf(env, t.taskId, "criterion_satisfied")).length).toBe(0);
    // A criterion of another task is not reachable through this one.
    const other = await supervised(env);
    expect((await other.post(`criteria/${id}`, { action: "accept" })).status).toBe(404);
  });

  it("two actions racing on one criterion: one applies, the other is told it changed, and the audit says what really happened", async () => {
    const t = await supervised(env);
    const id = (await t.post("criteria", { criterion: "raced", source: "worker_proposed" })).body.affected_criterion.id;
    const [x, y] = await Promise.all([
      t.post(`criteria/${id}`, { action: "accept", rationale: "a" }),
      t.post(`criteria/${id}`, { action: "defer", rationale: "b" }),
    ]);
    const statuses = [x.status, y.status].sort();
    expect(statuses).toEqual([200, 409]);
    const lost = x.status === 409 ? x : y;
    expect(lost.body.error.message).toContain("changed while");
    const moves = [...(await eventsOf(env, t.taskId, "criterion_accepted")), ...(await eventsOf(env, t.taskId, "criterion_deferred"))];
    expect(moves.map((e) => e.payload.previous_status)).toEqual(["proposed"]);
  });

  it("requires failure_mode, check and result for adversarial_check evidence", async () => {
    const t = await supervised(env);
    const id = (await t.post("criteria", { criterion: "cannot double-charge", source: "manager_inferred", status: "accepted" })).body.affected_criterion.id;
    const partial = await t.post(`criteria/${id}`, {
      action: "satisfy",
      evidence: { evidence_type: "adversarial_check", failure_mode: "retry charges twice", check: " " },
    });
    expect(partial.status).toBe(400);
    expect(partial.body.error.fields.map((f: any) => f.field)).toEqual(["evidence.check", "evidence.result"]);
    expect((await t.get("criteria")).body.summary.accepted).toBe(1);
    const ok = await t.post(`criteria/${id}`, {
      action: "satisfy",
      evidence: { evidence_type: "adversarial_check", failure_mode: "retry charges twice", check: "npm test -- retry.test.ts", result: "one charge" },
    });
    expect(ok.body.affected_criterion).toMatchObject({ status: "satisfied", evidence_type: "adversarial_check" });
  });

  it("lets the worker only propose, the manager do everything, strangers nothing", async () => {
    const t = await supervised(env);
    const stranger = await registerSession(env, "manager");
    const proposed = await t.post("criteria", { criterion: "from the worker", source: "worker_proposed" }, t.worker.token);
    expect(proposed.status).toBe(201);
    expect(proposed.body.affected_criterion.created_by).toBe(`session:${t.worker.session_id}`);
    expect((await t.post("criteria", { criterion: "x", source: "worker_proposed", status: "accepted" }, t.worker.token)).status).toBe(403);
    expect((await t.post("criteria", { criterion: "x", source: "manager_inferred" }, t.worker.token)).status).toBe(403);
    const id = proposed.body.affected_criterion.id;
    expect((await t.post(`criteria/${id}`, { action: "accept" }, t.worker.token)).status).toBe(403);
    expect((await t.post(`criteria/${id}`, { action: "accept" }, t.manager.token)).status).toBe(200);
    expect((await t.get("criteria", stranger.token)).status).toBe(404);
    expect((await t.get("criteria", t.worker.token)).body.criteria).toHaveLength(1);
    expect((await t.post("criteria", { criterion: "x", source: "manager_config" })).status).toBe(400);
  });

  it("pages the ledger by cursor", async () => {
    const t = await supervised(env);
    for (let i = 0; i < 5; i++) await t.post("criteria", { criterion: `c${i}`, source: "manager_inferred" });
    const first = await t.get("criteria?limit=2");
    expect(first.body.criteria.map((c: any) => c.criterion)).toEqual(["c0", "c1"]);
    const second = await t.get(`criteria?limit=2&cursor=${first.body.next_cursor}`);
    const third = await t.get(`criteria?limit=2&cursor=${second.body.next_cursor}`);
    expect([...second.body.criteria, ...third.body.criteria].map((c: any) => c.criterion)).toEqual(["c2", "c3", "c4"]);
    expect(third.body.next_cursor).toBeNull();
  });
});

describe("criteria-plan", () => {
  it("suggests accepted must-haves and deferred follow-ups without changing anything", async () => {
    const t = await supervised(env);
    await t.post("criteria", { criterion: "Tests cover the retry path", source: "manager_inferred" });
    const text = [
      "Here is my plan.",
      "- a stray bullet before any heading",
      "## Must-have for this task",
      "- Tests cover the retry path",
      "- **No double charge** on retry",
      "## Follow-ups",
      "1. Add metrics",
      "* It's a nice-to-have",
    ].join("\n");
    const r = await t.post("criteria-plan", { text });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ must_have: 2, follow_up: 2, ignored_lines: 1 });
    expect(r.body.suggestions.map((s: any) => [s.criterion, s.status, s.already_recorded])).toEqual([
      ["Tests cover the retry path", "accepted", true],
      ["No double charge on retry", "accepted", false],
      ["Add metrics", "deferred", false],
      ["It's a nice-to-have", "deferred", false],
    ]);
    expect(r.body.suggestions[3].command).toBe(
      `switchyard criteria ${t.name} --add --criterion 'It'\\''s a nice-to-have' --source worker_proposed --status deferred`,
    );
    expect((await t.get("criteria")).body.criteria).toHaveLength(1);
  });

  it("reads a hostile line in linear time, and takes CR, CRLF and LF alike as line ends", () => {
    // Spaces around a word and a lone carriage return: the old item pattern backtracked in cubic
    // time on this (6 kB held the event loop 12 s; this would take hours).
    const child = runWithDeadline(
      { plan: "functions/supervision/criteria-plan.ts" },
      `const hostile = "## Must-have\\n- " + " ".repeat(30000) + "a" + " ".repeat(30000) + "\\rb";
      process.stdout.write(JSON.stringify(plan.parseCriteriaText(hostile)));`,
    );
    expect(child.failure, "the parse did not finish").toBe("");
    expect(JSON.parse(child.stdout)).toEqual({ items: [{ criterion: "a", kind: "must_have" }], ignored: 0 });
    expect(parseCriteriaText("## Must-have\r- one\r\n- two  \n2) three\n-\u00a0four\n1.\u3000five\u2028")).toEqual({
      items: ["one", "two", "three", "four", "five"].map((criterion) => ({ criterion, kind: "must_have" })),
      ignored: 0,
    });
  }, 90_000);
});
