import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ALL_COMMANDS, EXIT_FAILED, EXIT_OK, EXIT_USAGE, runCli } from "../../../local-runner/cli/main.ts";
import { cliSandbox } from "../../helpers/cli.ts";

const sb = cliSandbox("cli", { SWITCHYARD_HOST_NAME: "cli-host" });
const cli = sb.cli;

describe("switchyard (in-process)", () => {
  it("acts as the session whose token is given (a spawned agent sharing the owner's home)", async () => {
    const reg = await cli("register-worker", "--name", "agent-w", "--json");
    const token = JSON.parse(reg.out).token as string;
    const mint = await cli("token", "mint", "--scope", "daemon", "--token", token, "--json");
    expect(mint.code).toBe(EXIT_FAILED);
    expect(JSON.parse(mint.out).error.code).toBe("FORBIDDEN");
    process.env.SWITCHYARD_TOKEN = token;
    try {
      const heartbeat = await cli("heartbeat", "agent-w");
      expect(heartbeat.code).toBe(EXIT_OK);
      expect((await cli("tasks", "--create", "not-mine")).code).toBe(EXIT_FAILED);
    } finally {
      delete process.env.SWITCHYARD_TOKEN;
    }
  });

  it("creates a task, then fails with exit 1 and the error code on a duplicate", async () => {
    const created = await cli("tasks", "--create", "t1", "--goal", "ship it");
    expect(created.code).toBe(EXIT_OK);
    expect(created.out).toMatch(/^created task t1 \(tsk_[0-9a-z]+\)$/);
    expect(existsSync(join(sb.home, "owner.token"))).toBe(true);

    const dup = await cli("tasks", "--create", "t1");
    expect(dup.code).toBe(EXIT_FAILED);
    expect(dup.out).toBe("");
    expect(dup.err).toContain("error: NAME_TAKEN: a task named 't1' already exists");
    expect(dup.err).toContain("hint: Show it with: switchyard task show t1");
  });

  it("prints the wire JSON with --json, for answers and for errors", async () => {
    const created = await cli("tasks", "--create", "t2", "--summary", "s", "--json");
    expect(created.code).toBe(EXIT_OK);
    const body = JSON.parse(created.out);
    expect(body).toMatchObject({ task_id: expect.stringMatching(/^tsk_/), event_id: expect.stringMatching(/^evt_/), task: { name: "t2", summary: "s" } });
    const shown = JSON.parse((await cli("task", "show", "t2", "--json")).out);
    expect(shown.task).toEqual(body.task);

    const missing = await cli("task", "show", "ghost", "--json");
    expect(missing.code).toBe(EXIT_FAILED);
    expect(JSON.parse(missing.out).error.code).toBe("NOT_FOUND");
  });

  it("runs the whole register → bind → unbind → deregister flow", async () => {
    const worker = JSON.parse((await cli("register-worker", "--name", "w1", "--json")).out);
    expect(worker).toMatchObject({ session: { name: "w1", role: "worker", host: "cli-host" }, token: expect.stringMatching(/^sy_session_/) });
    const manager = await cli("register-manager", "--name", "m1", "--host", "elsewhere", "--codex-session", "/remote/rollout.jsonl");
    expect(manager.code).toBe(EXIT_OK);
    expect(manager.out).toContain("registered manager m1");
    expect(manager.out).toContain("poll with: switchyard session-inbox m1");
    expect((await cli("tasks", "--create", "feat")).code).toBe(EXIT_OK);

    const discover = await cli("discover");
    expect(discover.out).toContain("$ switchyard bind --task feat --worker w1 --manager m1");
    const bind = await cli("bind", "--task", "feat", "--worker", "w1", "--manager", "m1");
    expect(bind.code).toBe(EXIT_OK);
    expect(bind.out).toMatch(/^bound feat: worker=w1 manager=m1 \(bnd_/);

    expect((await cli("session", "show", "w1")).out).toContain("active task: feat");
    expect((await cli("bindings")).out).toContain("worker=w1 manager=m1 active");
    expect((await cli("heartbeat", "w1")).out).toMatch(/^heartbeat recorded at /);
    const busy = await cli("deregister", "w1");
    expect(busy.code).toBe(EXIT_FAILED);
    expect(busy.err).toContain("SESSION_BOUND");

    const audit = await cli("audit", "feat");
    expect(audit.out).toContain("task_created");
    expect(audit.out).toContain("task_bound");
    expect((await cli("unbind", "--task", "feat")).code).toBe(EXIT_OK);
    expect((await cli("deregister", "w1")).out).toContain("deregistered w1");
    const all = await cli("sessions", "--state", "all", "--redact-identity-token");
    expect(all.out).toMatch(/w1\s+worker\s+gone/);
    expect(all.out).toContain("token=[redacted]");
    expect(all.out).not.toContain(worker.token);
  });

  it("reports a missing local transcript as an API failure", async () => {
    const res = await cli("register-worker", "--name", "w2", "--codex-session", join(sb.home, "missing.jsonl"));
    expect(res.code).toBe(EXIT_FAILED);
    expect(res.err).toContain("PATH_NOT_FOUND");
    expect(res.err).toContain("--codex-session");
  });

  it("mints, lists and revokes tokens, and runs and lists crons", async () => {
    const minted = JSON.parse((await cli("token", "mint", "--scope", "runner", "--host", "box", "--json")).out);
    expect(minted.info).toMatchObject({ kind: "runner", host: "box" });
    const list = await cli("token", "list");
    expect(list.out).toContain(`${minted.token_id} runner`);
    expect(list.out).not.toContain(minted.token);
    expect((await cli("token", "revoke", minted.token_id)).out).toBe(`revoked ${minted.token_id}`);
    expect((await cli("token", "revoke", minted.token_id)).code).toBe(EXIT_FAILED);
    expect((await cli("token", "mint", "--scope", "runner")).err).toContain("VALIDATION_FAILED");

    const run = await cli("cron", "run", "heartbeat-sweep");
    expect(run.code).toBe(EXIT_OK);
    expect(run.out).toMatch(/^heartbeat-sweep: succeeded/);
    expect((await cli("cron", "list")).out).toMatch(/heartbeat-sweep .*last: succeeded/);
    expect((await cli("cron", "run", "nope")).code).toBe(EXIT_FAILED);
    expect((await cli("db-doctor")).out).toMatch(/integrity_check: ok[\s\S]*\nok$/);
  });
});

describe("owner token file", () => {
  it("exits 1 with a hint when <home>/owner.token does not match the database", async () => {
    expect((await cli("tasks")).code).toBe(EXIT_OK);
    writeFileSync(join(sb.home, "owner.token"), "sy_owner_someone-else\n");
    const res = await cli("tasks");
    expect(res.code).toBe(EXIT_FAILED);
    expect(res.err).toContain("does not hold a live owner token");
    expect(res.err).toContain("hint: ");
  });
});

describe("usage errors exit 2 without touching state", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["unknown flag", ["tasks", "--bogus"], /--bogus/],
    ["missing positional", ["deregister"], /missing argument NAME/],
    ["extra positional", ["deregister", "a", "b"], /unexpected argument 'b'/],
    ["missing required option", ["bind", "--task", "t", "--manager", "m"], /--worker is required/],
    ["bad integer", ["discover", "--limit", "ten"], /--limit must be an integer, got 'ten'/],
    ["integer below minimum", ["register-worker", "--name", "w", "--pid", "0"], /--pid must be at least 1/],
    ["string flag without value", ["tasks", "--create"], /--create/],
    ["up with a bad port", ["up", "--port", "http"], /--port must be an integer/],
    ["up with an unknown cron override", ["up", "--cron", "nope=* * * * *"], /--cron expects NAME=EXPRESSION with a known NAME/],
  ];
  for (const [label, argv, message] of cases) {
    it(label, async () => {
      const res = await cli(...argv);
      expect(res.code).toBe(EXIT_USAGE);
      expect(res.err).toMatch(message);
      expect(res.err).toContain("hint: run 'switchyard");
      expect(res.out).toBe("");
      expect(existsSync(sb.home)).toBe(false);
    });
  }
});

describe("help", () => {
  it("prints the command list: exit 0 when asked, 2 when no command is given", async () => {
    const io = () => {
      const out: string[] = [];
      return { out, io: { out: (t: string) => out.push(t), err: () => {} } };
    };
    for (const argv of [["--help"], ["-h"], ["help"]]) {
      const c = io();
      expect(await runCli(argv, c.io)).toBe(EXIT_OK);
      for (const spec of ALL_COMMANDS) expect(c.out.join("\n")).toContain(`  ${spec.name} `);
    }
    const none = io();
    expect(await runCli([], none.io)).toBe(EXIT_USAGE);
    expect(none.out.join("\n")).toContain("Usage: switchyard <command>");
  });

  it("has --help for every command and alias, listing its arguments and options", async () => {
    expect(ALL_COMMANDS.length).toBeGreaterThan(15);
    for (const spec of ALL_COMMANDS) {
      for (const name of [spec.name, ...(spec.aliases ?? [])]) {
        const res = await cli(...name.split(" "), "--help");
        expect(res.code, name).toBe(EXIT_OK);
        expect(res.out, name).toContain(`switchyard ${spec.name}`);
        expect(res.out, name).toContain(spec.summary);
        for (const p of spec.positionals ?? []) expect(res.out, name).toContain(p.name);
        for (const o of Object.keys(spec.options ?? {})) expect(res.out, name).toContain(`--${o}`);
        expect(res.out, name).toContain("Exit codes:");
      }
    }
    expect(existsSync(sb.home)).toBe(false);
  });
});
