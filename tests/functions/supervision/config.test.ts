import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { taskHandoffs } from "../../../schema/supervision.ts";
import { registerSession } from "../../helpers/factories.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { eventsOf, supervised } from "./helpers.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

describe("manager-config", () => {
  it("creates the guided default on the first call, prints without writing, and revisions every change", async () => {
    const t = await supervised(env);
    const first = await t.post("manager-config");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ created: true, previous_revision: null, changed_fields: ["created"] });
    expect(first.body.config).toMatchObject({
      revision: 1,
      mode: "guided",
      objective: null,
      granted: [],
      nudge_on_completion: "ask-operator",
      require_acks: false,
    });

    const again = await t.post("manager-config");
    expect(again.body).toMatchObject({ created: false, event_id: null, config: { revision: 1 } });

    const changed = await t.post("manager-config", { mode: "strict", objective: "Split the module", guidelines: ["no new deps"], permit: ["repo.open_pr"] });
    expect(changed.body).toMatchObject({ created: true, previous_revision: 1, config: { revision: 2, mode: "strict", granted: ["repo.open_pr"] } });
    expect(changed.body.changed_fields.sort()).toEqual(["guidelines", "mode", "objective", "permissions"]);

    // Lists append by default, replace on request; the same value twice changes nothing.
    expect((await t.post("manager-config", { guidelines: ["no new deps"] })).body.created).toBe(false);
    expect((await t.post("manager-config", { guidelines: ["small commits"] })).body.config.guidelines).toEqual(["no new deps", "small commits"]);
    expect((await t.post("manager-config", { guidelines: ["only this"], replace_lists: true })).body.config).toMatchObject({
      revision: 4,
      guidelines: ["only this"],
    });

    // Old revisions stay readable.
    expect((await t.get("manager-config?revision=1")).body).toMatchObject({ revision: 1, mode: "guided", granted: [] });
    expect((await t.get("manager-config")).body).toMatchObject({ revision: 4, mode: "strict" });
    expect((await t.get("manager-config?revision=9")).status).toBe(404);

    // One audit row per written revision, none for the no-op calls.
    const audits = await eventsOf(env, t.taskId, "manager_config_recorded");
    expect(audits.map((a) => a.payload.revision)).toEqual([1, 2, 3, 4]);
  });

  it("pages through revisions newest first", async () => {
    const t = await supervised(env);
    for (const objective of ["a", "b", "c"]) await t.post("manager-config", { objective });
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await t.get(`manager-config/revisions?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.body.revisions.map((r: any) => r.revision));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([3, 2, 1]);
    expect((await t.get("manager-config/revisions?cursor=garbage")).status).toBe(400);
  });

  it("normalizes legacy flat keys and flags into the categorized taxonomy", async () => {
    const t = await supervised(env);
    const r = await t.post("manager-config", {
      permissions_json: { create_pr: true, worker_compact_clear: true, merge_green_pr: false },
      allow_merge_green: true,
    });
    expect(r.body.config.permissions).toEqual({ repo: ["merge_green_pr", "open_pr"], worker_session: ["clear", "compact"] });
    expect(r.body.config.granted).toEqual(["repo.merge_green_pr", "repo.open_pr", "worker_session.clear", "worker_session.compact"]);
    const categorized = await t.post("manager-config", {
      permissions_json: { verification: { run_pytest: true }, context: ["spawn_reviewer"], "communication.notify_operator": true },
    });
    expect(categorized.body.config.granted).toContain("verification.run_pytest");
    expect(categorized.body.config.granted).toContain("context.spawn_reviewer");
    expect(categorized.body.config.granted).toContain("communication.notify_operator");
    // A bare category grants all its actions; revoke takes one back.
    const all = await t.post("manager-config", { permit: ["worker_session"], revoke: ["worker_session.restart"] });
    expect(all.body.config.permissions.worker_session).toEqual(["clear", "compact", "interrupt"]);
    expect((await t.post("manager-config", { allow_pr: false })).body.config.permissions.repo).toEqual(["merge_green_pr"]);
  });

  it("refuses unknown permissions and bad values with the offending field", async () => {
    const t = await supervised(env);
    const typo = await t.post("manager-config", { permit: ["repo.openpr"] });
    expect(typo.status).toBe(400);
    expect(typo.body.error.hint).toContain("open_pr");
    const cat = await t.post("manager-config", { permit: ["nope.x"] });
    expect(cat.body.error.fields).toEqual([{ field: "permit", message: "unknown permission" }]);
    const legacy = await t.post("manager-config", { permissions_json: { create_pr: "yes", bogus: true } });
    expect(legacy.status).toBe(400);
    expect(legacy.body.error.fields.map((f: any) => f.field)).toEqual(["permissions_json.create_pr", "permissions_json.bogus"]);
    expect((await t.post("manager-config", { mode: "chaotic" })).status).toBe(400);
    expect((await env.call("POST", "/v1/tasks/nope/manager-config", { body: {} })).status).toBe(404);
    // Nothing was written by the refused calls.
    expect((await t.get("manager-config")).status).toBe(404);
  });

  it("lets the bound manager write, the worker only read, and other sessions nothing", async () => {
    const t = await supervised(env);
    const stranger = await registerSession(env, "manager");
    expect((await t.post("manager-config", { objective: "x" }, t.worker.token)).status).toBe(403);
    expect((await t.post("manager-config", { objective: "x" }, stranger.token)).status).toBe(404);
    const byManager = await t.post("manager-config", { objective: "x" }, t.manager.token);
    expect(byManager.status).toBe(200);
    expect(byManager.body.config.created_by).toBe(`session:${t.manager.session_id}`);
    expect((await t.get("manager-config", t.worker.token)).body.objective).toBe("x");
    expect((await t.get("manager-config", stranger.token)).status).toBe(404);
    const daemon = await env.mint("daemon");
    expect((await t.post("manager-config", {}, daemon)).status).toBe(403);
    expect((await t.get("manager-config", daemon)).status).toBe(200);
  });

  it("serves a stable question schema naming the flag for each answer", async () => {
    const q = await env.call("GET", "/v1/manager-config/questions");
    expect(q.body.schema_version).toBe(1);
    expect(q.body.questions.map((x: any) => [x.id, x.flag])).toEqual([
      ["mode", "--mode"],
      ["objective", "--objective"],
      ["guidelines", "--guideline"],
      ["acceptance", "--acceptance"],
      ["references", "--reference"],
      ["permissions", "--permit"],
      ["tools", "--tool"],
      ["epilogues", "--epilogue"],
      ["nudge_on_completion", "--nudge-on-completion"],
      ["require_acks", "--require-acks"],
    ]);
    expect(q.body.questions.find((x: any) => x.id === "permissions").options).toContain("repo.open_pr");
  });
});

describe("manager-permission", () => {
  it("answers granted, missing and category-wide checks, and audits each", async () => {
    const t = await supervised(env);
    const check = (permission: string, extra: Record<string, unknown> = {}) => t.post("manager-permission", { permission, ...extra });
    expect((await check("repo.open_pr")).body).toMatchObject({ allowed: false, reason: "the task has no manager config", config_revision: null });
    await t.post("manager-config", { permit: ["repo.open_pr", "verification.run_tests"] });
    expect((await check("repo.open_pr")).body).toMatchObject({ allowed: true, category: "repo", action: "open_pr", config_revision: 1, reason: null });
    expect((await check("repo.merge_green_pr")).body).toMatchObject({
      allowed: false,
      reason: "manager permission required: repo.merge_green_pr is not granted",
    });
    // A bare category asks for any action of it; list names them.
    expect((await check("verification")).body.allowed).toBe(true);
    expect((await check("worker_session")).body.allowed).toBe(false);
    expect((await check("repo", { list: true })).body).toMatchObject({ allowed: true, granted: ["open_pr"] });
    const audits = await eventsOf(env, t.taskId, "manager_permission_checked");
    expect(audits.map((a) => [a.payload.permission, a.payload.allowed])).toEqual([
      ["repo.open_pr", false],
      ["repo.open_pr", true],
      ["repo.merge_green_pr", false],
      ["verification", true],
      ["worker_session", false],
      ["repo", true],
    ]);
  });

  it("fails closed with require, naming the permission, and still audits the refusal", async () => {
    const t = await supervised(env);
    await t.post("manager-config", {});
    const r = await t.post("manager-permission", { permission: "repo.open_pr", require: true });
    expect(r.status).toBe(422);
    expect(r.body.error).toMatchObject({ code: "POLICY_REFUSED" });
    expect(r.body.error.message).toContain("repo.open_pr");
    expect(r.body.error.hint).toContain("--permit repo.open_pr");
    expect((await eventsOf(env, t.taskId, "manager_permission_checked")).at(-1)!.payload).toMatchObject({ allowed: false, require: true });
    expect((await t.post("manager-permission", { permission: "bogus.x" })).status).toBe(400);
  });

  it("with require_handoff, denies until a worker handoff exists", async () => {
    const t = await supervised(env);
    await t.post("manager-config", { permit: ["worker_session.compact"] });
    const before = await t.post("manager-permission", { permission: "worker_session.compact", require_handoff: true });
    expect(before.body).toMatchObject({ allowed: false, handoff_required: true, handoff_present: false, reason: "a worker handoff is required first" });
    expect((await t.post("manager-permission", { permission: "worker_session.compact", require_handoff: true, require: true })).status).toBe(422);
    await env.services.database.db
      .insert(taskHandoffs)
      .values({ id: "hnd_1", taskId: t.taskId, summary: "halfway", nextSteps: [], createdBy: "owner:test", createdAt: env.clock.ms });
    const after = await t.post("manager-permission", { permission: "worker_session.compact", require_handoff: true, require: true });
    expect(after.body).toMatchObject({ allowed: true, handoff_present: true, handoff_id: "hnd_1" });
  });

  it("lets bound sessions check but not strangers", async () => {
    const t = await supervised(env);
    const stranger = await registerSession(env, "worker");
    expect((await t.post("manager-permission", { permission: "repo" }, t.worker.token)).status).toBe(200);
    expect((await t.post("manager-permission", { permission: "repo" }, stranger.token)).status).toBe(404);
  });
});
