import { afterEach, describe, expect, it } from "vitest";
import { encodeCursor } from "../../../functions/lib/paging.ts";
import { boundPair, createTask, registerSession } from "../../helpers/factories.ts";
import { appMeetingAtTheBatch } from "../../helpers/key-barrier.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";
import { inboxOf, ownerNotices, runSteps } from "../patrol/helpers.ts";

let env: TestEnv;
afterEach(() => env?.close());

const finish = (name: string, token?: string) => env.call("POST", `/v1/tasks/${name}/finish`, { token, body: {} });

describe("convoys", () => {
  it("closes when the last tracked task finishes, tells the owner once, and reopens when a task reopens", async () => {
    env = await makeTestEnv();
    const t1 = (await createTask(env)).task.name;
    const t2 = (await createTask(env)).task.name;
    const created = await env.call("POST", "/v1/convoys", { body: { title: "auth v2", tracks: [t1, t2] } });
    expect(created.status).toBe(201);
    expect(created.body.convoy).toMatchObject({ state: "open", tracked: 2, finished: 0, owner: null });
    const id = created.body.convoy_id;
    await finish(t1);
    expect((await env.call("GET", `/v1/convoys/${id}`)).body.convoy).toMatchObject({ state: "open", finished: 1 });
    // Half done: the patrol step does not close it either.
    expect((await runSteps(env, "check-convoy-completion"))["check-convoy-completion"]).toMatchObject({ complete: 0 });
    await finish(t2);
    const shown = (await env.call("GET", `/v1/convoys/${id}`)).body;
    expect(shown.convoy).toMatchObject({ state: "closed", finished: 2, close_reason: "All tracked tasks finished" });
    expect(shown.tasks.map((t: any) => t.state)).toEqual(["finished", "finished"]);
    expect((await runSteps(env, "check-convoy-completion"))["check-convoy-completion"]).toMatchObject({ complete: 0, closed: 0 });
    const notices = (await ownerNotices(env)).filter((n) => n.kind === "convoy_complete");
    expect(notices).toHaveLength(1);
    expect(notices[0].subject).toBe("Convoy complete: auth v2");

    const reopened = await env.call("POST", `/v1/tasks/${t2}/reopen`, { body: { reason: "regression found" } });
    expect(reopened.status).toBe(200);
    expect(reopened.body).toMatchObject({ task: { state: "active", finished_at: null }, reopened_convoys: [id] });
    expect((await env.call("GET", `/v1/convoys/${id}`)).body.convoy).toMatchObject({ state: "open", finished: 1 });
    expect((await env.call("POST", `/v1/tasks/${t2}/reopen`, { body: {} })).status).toBe(409);
    await finish(t2);
    expect((await env.call("GET", `/v1/convoys/${id}`)).body.convoy.state).toBe("closed");
    expect((await ownerNotices(env)).filter((n) => n.kind === "convoy_complete")).toHaveLength(2);
    expect((await env.call("GET", "/v1/convoys?status=closed")).body.convoys.map((c: any) => c.id)).toEqual([id]);
  });

  it("the patrol closes a convoy whose tasks finished while no one reacted, and tells a session owner in its inbox", async () => {
    env = await makeTestEnv();
    const m = await registerSession(env, "manager");
    const t = (await createTask(env)).task.name;
    const id = (await env.call("POST", "/v1/convoys", { body: { title: "solo", tracks: [t], owner: m.session.name } })).body.convoy_id;
    // Finish the task behind the API's back, as if the process died before reacting.
    await env.services.database.client.execute({ sql: "UPDATE tasks SET state = 'finished' WHERE name = ?", args: [t] });
    const r = await runSteps(env, "check-convoy-completion", "fire-notifications");
    expect(r["check-convoy-completion"]).toMatchObject({ complete: 1, closed: 1, convoys: [id] });
    const items = await inboxOf(env, m.session.name);
    expect(items).toHaveLength(1);
    expect(items[0].payload).toMatchObject({ notification_kind: "convoy_complete", convoy_id: id });
  });

  it("refuses empty convoys and unknown tasks; a convoy of finished tasks closes at once", async () => {
    env = await makeTestEnv();
    expect((await env.call("POST", "/v1/convoys", { body: { title: "empty", tracks: [] } })).status).toBe(400);
    const missing = await env.call("POST", "/v1/convoys", { body: { title: "x", tracks: ["no-such-task"] } });
    expect(missing.status).toBe(404);
    const t = (await createTask(env)).task.name;
    await finish(t);
    const done = await env.call("POST", "/v1/convoys", { body: { title: "late", tracks: [t] } });
    expect(done.body.convoy.state).toBe("closed");
  });
});

describe("task dependencies", () => {
  it("lists blocked tasks, unblocks on closure, tells the dependent's manager, and re-blocks on reopen", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env);
    const a = pair.task.task.name;
    const b = (await createTask(env)).task.name;
    const c = (await createTask(env)).task.name;
    expect((await env.call("POST", `/v1/tasks/${a}/depends`, { body: { on: b } })).status).toBe(201);
    expect((await env.call("POST", `/v1/tasks/${a}/depends`, { body: { on: c } })).status).toBe(201);
    expect((await env.call("POST", `/v1/tasks/${b}/depends`, { body: { on: a } })).status).toBe(409);
    expect((await env.call("POST", `/v1/tasks/${a}/depends`, { body: { on: a } })).status).toBe(400);
    expect((await env.call("POST", `/v1/tasks/${a}/depends`, { body: { on: b } })).status).toBe(409);
    let blocked = (await env.call("GET", "/v1/blocked-tasks")).body;
    expect(blocked.blocked).toHaveLength(1);
    expect(blocked.blocked[0].waiting_for.map((w: any) => w.task).sort()).toEqual([b, c].sort());

    await finish(b);
    await runSteps(env, "fire-notifications");
    const first = await inboxOf(env, pair.manager.session.name);
    expect(first.map((i: any) => i.payload.subject)).toEqual([`Dependency resolved: ${b}`]);
    expect(first[0].payload.body).toMatch(/still waits for 1 other/);
    blocked = (await env.call("GET", "/v1/blocked-tasks")).body;
    expect(blocked.blocked[0].waiting_for.map((w: any) => w.task)).toEqual([c]);

    await finish(c);
    await runSteps(env, "resolve-external-deps", "fire-notifications");
    const second = await inboxOf(env, pair.manager.session.name);
    expect(second).toHaveLength(2);
    expect(second[1].payload.body).toMatch(new RegExp(`Unblocked: ${a} may now proceed`));
    expect((await env.call("GET", "/v1/blocked-tasks")).body.count).toBe(0);

    const re = await env.call("POST", `/v1/tasks/${c}/reopen`, { body: {} });
    expect(re.body.reblocked).toEqual([a]);
    expect((await env.call("GET", "/v1/blocked-tasks")).body.blocked[0].waiting_for.map((w: any) => w.task)).toEqual([c]);
  });

  it("pages blocked tasks without losing any: finished dependents are skipped, every blocker of a listed task is shown", async () => {
    env = await makeTestEnv();
    const depend = async (task: string, on: string) => expect((await env.call("POST", `/v1/tasks/${task}/depends`, { body: { on } })).status).toBe(201);
    const b = (await createTask(env)).task.name;
    // Finished tasks that still wait for b are not blocked, and must not use up the page.
    for (let i = 0; i < 8; i++) {
      const done = (await createTask(env)).task.name;
      await depend(done, b);
      await finish(done);
    }
    // One task waiting for ten blockers, one for a single blocker, one active task waiting for b.
    const many = (await createTask(env)).task.name;
    const blockers: string[] = [];
    for (let i = 0; i < 10; i++) {
      const x = (await createTask(env)).task.name;
      blockers.push(x);
      await depend(many, x);
    }
    const one = (await createTask(env)).task.name;
    await depend(one, b);
    const seen = new Map<string, string[]>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: any = await env.call("GET", `/v1/blocked-tasks?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.body.blocked.length).toBeLessThanOrEqual(1);
      for (const r of res.body.blocked) seen.set(r.task.name, r.waiting_for.map((w: any) => w.task).sort());
      cursor = res.body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect([...seen.keys()].sort()).toEqual([many, one].sort());
    expect(seen.get(many)).toEqual(blockers.sort());
    expect(seen.get(one)).toEqual([b]);
  });

  it("only the owner or the bound manager may add dependencies or reopen", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env);
    const other = (await createTask(env)).task.name;
    const a = pair.task.task.name;
    expect((await env.call("POST", `/v1/tasks/${a}/depends`, { token: pair.worker.token, body: { on: other } })).status).toBe(403);
    expect((await env.call("POST", `/v1/tasks/${a}/depends`, { token: pair.manager.token, body: { on: other } })).status).toBe(201);
    await finish(other);
    expect((await env.call("POST", `/v1/tasks/${other}/reopen`, { token: pair.manager.token, body: {} })).status).toBe(403);
    // The manager that finished its task may reopen it (its binding has ended by then).
    await finish(a, pair.manager.token);
    expect((await env.call("POST", `/v1/tasks/${a}/reopen`, { token: pair.worker.token, body: {} })).status).toBe(403);
    expect((await env.call("POST", `/v1/tasks/${a}/reopen`, { token: pair.manager.token, body: {} })).status).toBe(200);
  });

  it("a manager unbound before the finish may not reopen the task, and a later finish without it keeps it out", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env);
    const a = pair.task.task.name;
    const convoy = await env.call("POST", "/v1/convoys", { body: { title: "train", tracks: [a] } });
    expect(convoy.status).toBe(201);
    env.clock.advance(5);
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task: a } })).status).toBe(200);
    env.clock.advance(5);
    await finish(a);
    const refused = await env.call("POST", `/v1/tasks/${a}/reopen`, { token: pair.manager.token, body: {} });
    expect(refused.status).toBe(403);
    expect((await env.call("GET", `/v1/tasks/${a}`)).body.task.state).toBe("finished");
    expect((await env.call("GET", `/v1/convoys/${convoy.body.convoy_id}`)).body.convoy.state).toBe("closed");
    // Reopened by the owner and finished again by the owner: the old manager still had no part in it.
    expect((await env.call("POST", `/v1/tasks/${a}/reopen`, { body: {} })).status).toBe(200);
    env.clock.advance(5);
    await finish(a);
    expect((await env.call("POST", `/v1/tasks/${a}/reopen`, { token: pair.manager.token, body: {} })).status).toBe(403);
  });

  it("tells the finish's binding from an unbind in the same millisecond", async () => {
    env = await makeTestEnv();
    const pair = await boundPair(env);
    const a = pair.task.task.name;
    expect((await env.call("POST", "/v1/bindings/unbind", { body: { task: a } })).status).toBe(200);
    await finish(a);
    expect((await env.call("POST", `/v1/tasks/${a}/reopen`, { token: pair.manager.token, body: {} })).status).toBe(403);
  });

  it("of two reopens racing to the same batch exactly one acts; the other is a CONFLICT", async () => {
    env = await makeTestEnv();
    const t = (await createTask(env)).task.name;
    expect((await finish(t)).status).toBe(200);
    // Held at the batch until both got there: each saw the task finished before either wrote.
    const { app, arrived } = appMeetingAtTheBatch(env);
    const reopen = (key: string) =>
      app.request(`/v1/tasks/${t}/reopen`, {
        method: "POST",
        headers: { Authorization: `Bearer ${env.owner}`, "Idempotency-Key": key, "Content-Type": "application/json" },
        body: "{}",
      });
    const answers = await Promise.all([reopen("reopen-a"), reopen("reopen-b")]);
    expect(arrived()).toBe(2);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const events = await env.services.database.client.execute("SELECT count(*) AS n FROM events WHERE kind = 'task_reopened'");
    expect(Number(events.rows[0]!.n)).toBe(1);
  });
});

describe("a convoy's tracked tasks are bounded in show and paged in GET /v1/convoys/{id}/tasks", () => {
  async function convoyOf(n: number) {
    const names: string[] = [];
    for (let i = 0; i < n; i++) names.push((await createTask(env)).task.name);
    const created = await env.call("POST", "/v1/convoys", { body: { title: `convoy of ${n}`, tracks: names } });
    expect(created.status).toBe(201);
    return { id: created.body.convoy_id as string, names };
  }

  async function walk(id: string, limit: number, between?: () => Promise<void>) {
    const seen: any[] = [];
    let cursor: string | null = null;
    do {
      const res = await env.call("GET", `/v1/convoys/${id}/tasks?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      seen.push(...res.body.tasks);
      cursor = res.body.next_cursor;
      if (between) await between();
      between = undefined;
    } while (cursor);
    return seen;
  }

  it("show embeds the first 20 with a cursor that pages on through the rest, in task creation order", async () => {
    env = await makeTestEnv();
    const { id, names } = await convoyOf(25);
    const shown = await env.call("GET", `/v1/convoys/${id}`);
    expect(shown.status).toBe(200);
    // Before paging, show returned all 25 tracked tasks.
    expect(shown.body.tasks).toHaveLength(20);
    expect(shown.body.convoy).toMatchObject({ tracked: 25, finished: 0 });
    const rest = await env.call("GET", `/v1/convoys/${id}/tasks?cursor=${shown.body.tasks_next_cursor}`);
    expect(rest.body).toMatchObject({ convoy_id: id, count: 5, next_cursor: null });
    expect([...shown.body.tasks, ...rest.body.tasks].map((t: any) => t.task)).toEqual(names);
  });

  it("a walk neither skips nor repeats a task that finishes meanwhile", async () => {
    env = await makeTestEnv();
    const { id, names } = await convoyOf(6);
    const seen = await walk(id, 2, async () => {
      expect((await finish(names[0]!)).status).toBe(200);
      expect((await finish(names[5]!)).status).toBe(200);
    });
    expect(seen.map((t) => t.task)).toEqual(names);
    expect(seen[0].state).toBe("active");
    expect(seen[5].state).toBe("finished");
  });

  it("refuses a malformed cursor, another convoy's cursor and a limit over the maximum; 404 for an unknown convoy", async () => {
    env = await makeTestEnv();
    const a = await convoyOf(3);
    const b = await convoyOf(3);
    const ofA = (await env.call("GET", `/v1/convoys/${a.id}/tasks?limit=1`)).body.next_cursor;
    for (const path of [`/v1/convoys/${b.id}/tasks?cursor=${ofA}`, `/v1/convoys/${a.id}/tasks?cursor=%%%`]) {
      const res = await env.call("GET", path);
      expect(res.status, path).toBe(400);
      expect(res.body.error).toMatchObject({ code: "VALIDATION_FAILED", hint: expect.stringContaining("next_cursor") });
    }
    const forged = encodeCursor([5], `convoys/tasks/${a.id}`);
    expect((await env.call("GET", `/v1/convoys/${a.id}/tasks?cursor=${forged}`)).status, "a numeric key where a task id belongs").toBe(400);
    expect((await env.call("GET", `/v1/convoys/${a.id}/tasks?limit=501`)).status).toBe(400);
    const missing = await env.call("GET", "/v1/convoys/cvy_nope/tasks");
    expect(missing.status).toBe(404);
    expect(missing.body.error.hint).toContain("convoy list");
  });

  it("is readable by a session, not by a runner or anonymously", async () => {
    env = await makeTestEnv();
    const { id } = await convoyOf(2);
    const s = await registerSession(env, "worker");
    expect((await env.call("GET", `/v1/convoys/${id}/tasks`, { token: s.token })).body.count).toBe(2);
    expect((await env.call("GET", `/v1/convoys/${id}/tasks`, { token: await env.mint("runner", "h") })).status).toBe(403);
    expect((await env.call("GET", `/v1/convoys/${id}/tasks`, { token: null })).status).toBe(401);
  });
});
