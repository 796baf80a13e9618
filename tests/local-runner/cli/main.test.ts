import { createClient } from "@libsql/client";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { inProcessErrorLog, openTransport } from "../../../local-runner/cli/connect.ts";
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
    // Payloads read as key=value pairs, not JSON.
    expect(audit.out).toMatch(/task_bound .* worker=\S+ /);
    expect(audit.out).not.toContain('{"');
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
    expect(run.out).toMatch(/^heartbeat-sweep: succeeded\n {2}\w+: /);
    expect(run.out).not.toMatch(/[{}]/);
    expect((await cli("cron", "list")).out).toMatch(/heartbeat-sweep .*last: succeeded/);
    expect((await cli("cron", "run", "nope")).code).toBe(EXIT_FAILED);
    expect((await cli("db-doctor")).out).toMatch(/integrity_check: ok[\s\S]*\nok$/);
    // A table dropped by hand while the ledger says its migration ran: named, and exit 1.
    const file = createClient({ url: `file:${join(sb.home, "switchyard.db")}` });
    await file.execute("DROP TABLE dispatch_leases");
    file.close();
    const sick = await cli("db-doctor");
    expect(sick.code).toBe(EXIT_FAILED);
    expect(sick.out).toMatch(/missing tables: dispatch_leases \(.*backup\)[\s\S]*\nNOT OK$/);
  });
});

describe("owner token file", () => {
  it("exits 1 with a hint when <home>/owner.token does not match the database", async () => {
    expect((await cli("tasks")).code).toBe(EXIT_OK);
    writeFileSync(join(sb.home, "owner.token"), "sy_owner_someone-else\n");
    const res = await cli("tasks");
    expect(res.code).toBe(EXIT_FAILED);
    expect(res.err).toContain("does not hold a live owner token");
    expect(res.err).toContain("switchyard init --reset-owner-token");
    expect(res.err).toContain("hint: ");
  });
});

describe("usage errors exit 2 without touching state", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["unknown flag", ["tasks", "--bogus"], /--bogus/],
    ["missing positional", ["deregister"], /missing required argument 'NAME'/],
    ["extra positional", ["deregister", "a", "b"], /too many arguments for 'deregister'/],
    ["missing required option", ["bind", "--task", "t", "--manager", "m"], /--worker is required/],
    ["bad integer", ["discover", "--limit", "ten"], /--limit must be an integer, got 'ten'/],
    ["integer below minimum", ["register-worker", "--name", "w", "--pid", "0"], /--pid must be at least 1/],
    ["string flag without value", ["tasks", "--create"], /--create/],
    ["up with a bad port", ["up", "--port", "http"], /--port must be an integer/],
    ["up with an unknown cron override", ["up", "--cron", "nope=* * * * *"], /--cron expects NAME=EXPRESSION with a known NAME/],
    ["up with an invalid schedule", ["up", "--cron", "heartbeat-sweep=every minute"], /'every minute' is not a valid schedule/],
    ["up with a port out of range", ["up", "--port", "70000"], /--port must be at most 65535/],
    ["unknown option, with the close one suggested", ["tasks", "--stat", "all"], /unknown option '--stat'[\s\S]*Did you mean --state\?/],
  ];
  for (const [label, argv, message] of cases) {
    it(label, async () => {
      const res = await cli(...argv);
      expect(res.code).toBe(EXIT_USAGE);
      expect(res.err).toMatch(message);
      expect(res.err).toContain("hint: run 'switchyard");
      expect(res.out).toBe("");
      // The (empty) home stays empty: no database, no owner token.
      expect(readdirSync(sb.home)).toEqual([]);
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
        for (const code of Object.keys(spec.exitCodes ?? {})) expect(res.out, name).toMatch(new RegExp(`^  ${code}  `, "m"));
      }
    }
    expect(readdirSync(sb.home)).toEqual([]);
  });
});

/** Runs the CLI in-process from `cwd`, without the sandbox's --home (local commands write to process.stdout). */
async function run(argv: string[], cwd?: string) {
  const out: string[] = [];
  const err: string[] = [];
  const write = vi.spyOn(process.stdout, "write").mockImplementation((t) => {
    out.push(String(t).replace(/\n$/, ""));
    return true;
  });
  try {
    const code = await runCli(argv, { out: (t) => out.push(t), err: (t) => err.push(t) }, { cwd });
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    write.mockRestore();
  }
}

describe("navigation: version, grouped help, groups, suggestions", () => {
  it("prints the package version with --version and -V", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8"));
    for (const flag of ["--version", "-V"]) {
      const res = await run([flag]);
      expect(res.code).toBe(EXIT_OK);
      expect(res.out.trim()).toBe(version);
    }
  });

  it("lists every command under its group's heading, in the group order", async () => {
    const res = await run(["--help"]);
    const headings = [...res.out.matchAll(/^(\S[^:\n]*):$/gm)].map((m) => m[1]);
    expect(headings.slice(0, 4)).toEqual(["Set up and run", "Sessions and agents", "Tasks and bindings", "Watch"]);
    // Each command sits between its own heading and the next one.
    const sections = res.out.split(/^\S[^:\n]*:$/m);
    for (const spec of ALL_COMMANDS) {
      const title = { setup: "Set up and run", broker: "Advice broker", messages: "Messages and inboxes" }[spec.group ?? ""];
      if (!title) continue;
      const index = headings.indexOf(title) + 1;
      expect(sections[index], spec.name).toContain(`  ${spec.name}`);
    }
  });

  it("lists a spec without a group under Other, and runs it", async () => {
    const spec = { name: "zz-ungrouped", summary: "A command some other file added without a group", local: async () => EXIT_OK };
    ALL_COMMANDS.push(spec);
    try {
      const help = await run(["--help"]);
      expect(help.out).toMatch(/\nOther:\n {2}zz-ungrouped +A command some other file added without a group/);
      expect((await run(["zz-ungrouped", "--home", sb.home])).code).toBe(EXIT_OK);
    } finally {
      ALL_COMMANDS.splice(ALL_COMMANDS.indexOf(spec), 1);
    }
  });

  it("lists a group's subcommands when given the group word alone", async () => {
    for (const group of ["broker", "token", "cron", "orchestrator", "service"]) {
      const res = await run([group]);
      expect(res.code, group).toBe(EXIT_OK);
      const subs = ALL_COMMANDS.filter((c) => c.name.startsWith(`${group} `));
      expect(subs.length, group).toBeGreaterThan(1);
      for (const c of subs) expect(res.out, c.name).toContain(`  ${c.name.slice(group.length + 1)}`);
    }
    // A word that is a command and a group at once still runs as the command.
    expect((await run(["commands", "--help"])).out).toContain("requeue");
  });

  it("suggests the closest commands for an unknown one, at the top level and inside a group", async () => {
    const cases: Array<[string[], string[]]> = [
      [["tsks"], ["tasks"]],
      [["nudge"], ["session-nudge"]],
      [["broker", "tokn-check"], ["broker token-check"]],
      [["token-check"], ["broker token-check"]],
      [["brokr"], ["broker"]],
      [["help", "sesions"], ["sessions"]],
    ];
    for (const [argv, expected] of cases) {
      const res = await run(argv);
      const typed = argv.filter((a) => a !== "help").join(" ");
      expect(res.code, argv.join(" ")).toBe(EXIT_USAGE);
      expect(res.err).toContain(`unknown command '${typed}'`);
      for (const e of expected) expect(res.err, argv.join(" ")).toContain(`switchyard ${e}`);
      expect(res.err).toContain("hint: run 'switchyard ");
    }
    expect((await run(["zzzqqq"])).err).not.toContain("did you mean");
    // `help X Y` is `X Y --help`, two levels deep too.
    const help = await run(["help", "broker", "token-check"]);
    expect(help.code).toBe(EXIT_OK);
    expect(help.out).toContain("Usage: switchyard broker token-check [options] <TOKEN_ID>");
  });
});

describe("home discovery", () => {
  const made: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), "switchyard-home-"));
    made.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });

  it("init creates ./.switchyard with a database, an owner token and a .gitignore; a second init keeps them", async () => {
    const root = tmp();
    const first = await run(["init"], root);
    expect(first.code).toBe(EXIT_OK);
    expect(first.out).toContain(`initialised ${join(root, ".switchyard")}`);
    for (const f of ["switchyard.db", "owner.token", ".gitignore"]) expect(existsSync(join(root, ".switchyard", f)), f).toBe(true);
    expect(statSync(join(root, ".switchyard", "owner.token")).mode & 0o777).toBe(0o600);
    const token = readFileSync(join(root, ".switchyard", "owner.token"), "utf8");
    const again = await run(["init"], root);
    expect(again.out).toContain("already initialised");
    expect(readFileSync(join(root, ".switchyard", "owner.token"), "utf8")).toBe(token);
  });

  it("finds the home from a nested directory, the way git finds .git", async () => {
    const root = tmp();
    await run(["init"], root);
    const nested = join(root, "src", "deep", "er");
    mkdirSync(nested, { recursive: true });
    expect((await run(["tasks", "--create", "from-below"], nested)).code).toBe(EXIT_OK);
    expect((await run(["tasks"], root)).out).toContain("from-below");
    // Nothing was created where the command ran.
    expect(existsSync(join(nested, ".switchyard"))).toBe(false);
  });

  it("lets SWITCHYARD_HOME and --home override the home found from the current directory", async () => {
    const root = tmp();
    const other = tmp();
    await run(["init"], root);
    await run(["init"], other);
    process.env.SWITCHYARD_HOME = join(other, ".switchyard");
    try {
      expect((await run(["tasks", "--create", "in-other"], root)).code).toBe(EXIT_OK);
    } finally {
      delete process.env.SWITCHYARD_HOME;
    }
    expect((await run(["tasks"], root)).out).toBe("no tasks");
    expect((await run(["tasks", "--home", join(other, ".switchyard")], root)).out).toContain("in-other");
  });

  it("fails with a hint, creating nothing, when a read command runs where there is no home", async () => {
    const empty = tmp();
    const res = await run(["sessions"], empty);
    expect(res.code).toBe(EXIT_FAILED);
    expect(res.err).toContain(`no switchyard home: no .switchyard/ directory in ${empty} or any parent`);
    expect(res.err).toContain("hint: Run 'switchyard init' here");
    expect(res.err).toContain("SWITCHYARD_URL");
    expect(readdirSync(empty)).toEqual([]);

    const missing = join(empty, "typo");
    const named = await run(["sessions", "--home", missing], empty);
    expect(named.code).toBe(EXIT_FAILED);
    expect(named.err).toContain(`no switchyard home at ${missing} (named by --home)`);
    expect(named.err).toContain(`switchyard init --home ${missing}`);
    expect(existsSync(missing)).toBe(false);
  });
});

describe("a database file SQLite cannot use", () => {
  it("names the file and what to do, for reads and writes alike", async () => {
    expect((await cli("tasks")).code).toBe(EXIT_OK);
    const db = join(sb.home, "switchyard.db");
    for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    writeFileSync(db, "these are not the bytes of a SQLite database, only some text long enough to fill a header\n".repeat(20));
    for (const argv of [["tasks"], ["tasks", "--create", "t1"], ["sessions"]]) {
      const res = await cli(...argv);
      expect(res.code, argv.join(" ")).toBe(EXIT_FAILED);
      expect(res.err).toContain(`error: the database file ${db} is not a usable SQLite database (SQLITE_NOTADB)`);
      expect(res.err).toContain(`hint: Restore it from a backup, or move it aside (mv ${db} ${db}.bad) and run \`switchyard init\``);
    }
  });

  it("refuses a used home whose database file is gone instead of starting it empty, until `init` says so", async () => {
    expect((await cli("tasks", "--create", "kept")).code).toBe(EXIT_OK);
    const db = join(sb.home, "switchyard.db");
    for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    for (const argv of [["tasks"], ["tasks", "--create", "t2"], ["sessions"], ["up", "--port", "0"]]) {
      const res = await cli(...argv);
      expect(res.code, argv.join(" ")).toBe(EXIT_FAILED);
      expect(res.err).toContain(`error: the database file ${db} is missing, but this home (${sb.home}) has been used`);
      expect(res.err).toContain(`switchyard init --home ${sb.home}`);
      expect(existsSync(db), argv.join(" ")).toBe(false);
    }
    const init = await cli("init", "--json");
    expect(init.code).toBe(EXIT_OK);
    expect(JSON.parse(init.out)).toMatchObject({ created: false, created_database: true });
    // The owner token carried over: the empty database answers it.
    const tasks = await cli("tasks", "--json");
    expect(tasks.code).toBe(EXIT_OK);
    expect(JSON.stringify(JSON.parse(tasks.out))).not.toContain("kept");
    expect(JSON.parse((await cli("init", "--json")).out)).toMatchObject({ created: false, created_database: false });
  });

  it("refuses a database path that is a directory, FIFO or device, in a new home and a used one, before libSQL touches it", async () => {
    expect((await cli("tasks", "--create", "kept")).code).toBe(EXIT_OK);
    const dir = join(sb.home, "not-files");
    mkdirSync(join(dir, "a-dir"), { recursive: true });
    const fifo = join(dir, "a-fifo.db");
    execFileSync("mkfifo", [fifo]);
    // A symlink is followed: what counts is what it points at.
    symlinkSync(join(dir, "a-dir"), join(dir, "link.db"));
    for (const [path, what] of [
      [join(dir, "a-dir"), "a directory"],
      [fifo, "a FIFO"],
      ["/dev/null", "a device"],
      [join(dir, "link.db"), "a directory"],
    ] as const) {
      process.env.SWITCHYARD_DB_URL = `file:${path}`;
      try {
        // A used home (owner.token is there), `init` (which creates), and a home never used.
        const fresh = join(dir, "fresh-home");
        for (const argv of [["tasks"], ["init"], ["sessions", "--home", fresh], ["init", "--home", fresh]]) {
          const res = await cli(...argv);
          expect(res.code, `${path} ${argv.join(" ")}`).toBe(EXIT_FAILED);
          expect(res.err).toContain(`error: the database path ${path} is ${what}, not a database file`);
          expect(res.err).toContain("hint: SWITCHYARD_DB_URL (or the home's switchyard.db) must name a database file");
        }
        expect(existsSync(fresh), path).toBe(false);
      } finally {
        delete process.env.SWITCHYARD_DB_URL;
      }
    }
    // Before, SQLite wrote a rollback journal beside the FIFO and then failed with SQLITE_IOERR.
    expect(readdirSync(dir).sort()).toEqual(["a-dir", "a-fifo.db", "link.db"]);
    expect(readdirSync(join(dir, "a-dir"))).toEqual([]);
  });

  it("treats an emptied database file as gone, and reads the file a percent-encoded or localhost URL names as libSQL does", async () => {
    expect((await cli("tasks", "--create", "kept")).code).toBe(EXIT_OK);
    const db = join(sb.home, "switchyard.db");
    for (const f of [`${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    writeFileSync(db, "");
    const emptied = await cli("tasks");
    expect(emptied.code).toBe(EXIT_FAILED);
    expect(emptied.err).toContain(`error: the database file ${db} is empty, but this home`);
    expect(JSON.parse((await cli("init", "--json")).out)).toMatchObject({ created_database: true });

    // libSQL opens "/…/my db.db" for file:/…/my%20db.db and "/…/lh.db" for file://localhost/…/lh.db.
    const dir = join(sb.home, "elsewhere");
    for (const [url, file] of [
      [`file:${dir}/my%20db.db`, join(dir, "my db.db")],
      [`file://localhost${dir}/lh.db`, join(dir, "lh.db")],
    ] as const) {
      process.env.SWITCHYARD_DB_URL = url;
      try {
        expect(JSON.parse((await cli("init", "--json")).out), url).toMatchObject({ created_database: true });
        expect(existsSync(file), url).toBe(true);
        expect((await cli("tasks", "--create", `t-${file.length}`)).code, url).toBe(EXIT_OK);
        expect(JSON.parse((await cli("init", "--json")).out), url).toMatchObject({ created_database: false });
      } finally {
        delete process.env.SWITCHYARD_DB_URL;
      }
    }
    expect(existsSync("/localhost")).toBe(false);
    // Three fresh databases migrated in-process: about 17 s alone, over a minute with the suite on two cores.
  }, 180_000);

  it("in-process, says on stderr what an internal error was (no server log exists to look in)", async () => {
    await cli("tasks");
    const t = await openTransport({ home: sb.home, json: false });
    const lines: string[] = [];
    const write = vi.spyOn(process.stderr, "write").mockImplementation((text) => {
      lines.push(String(text));
      return true;
    });
    try {
      expect((t as unknown as { services: { log: unknown } }).services.log).toBe(inProcessErrorLog);
      inProcessErrorLog.error("unhandled error", { method: "POST", error: "Error: disk on fire\n    at somewhere (x.ts:1:1)" });
      inProcessErrorLog.warn("noise", {});
    } finally {
      write.mockRestore();
      await t.close();
    }
    expect(lines).toEqual(["switchyard: unhandled error: Error: disk on fire\n"]);
  });
});

describe("values that could never work are usage errors (exit 2), refused before anything is sent", () => {
  it("an address that is not http(s), a token no header can carry, a page or a wait past the server's maximum", async () => {
    await cli("tasks");
    const cases: Array<[string[], string]> = [
      [["sessions", "--url", "notaurl"], "--url (or $SWITCHYARD_URL) must be an http:// or https:// address, got 'notaurl'"],
      [["tasks", "--url", "ftp://127.0.0.1/x"], "must be an http:// or https:// address"],
      [["sessions", "--token", "bad\nX"], "--token (or $SWITCHYARD_TOKEN) holds a space, a line break"],
      [["sessions", "--limit", "501"], "--limit must be at most 500, got 501"],
      [["tasks", "--limit", "99999999999999999999"], "--limit must be at most 500"],
      [["session-inbox", "nobody", "--consume-next", "--wait", "--timeout", "241"], "--timeout must be at most 240 seconds, got 241"],
    ];
    for (const [argv, message] of cases) {
      const res = await cli(...argv);
      expect(res.code, argv.join(" ")).toBe(EXIT_USAGE);
      expect(res.err, argv.join(" ")).toContain(message);
      // Nothing was waited for or sent: no "waiting up to…" line.
      expect(res.err).not.toContain("waiting up to");
    }
  });
});

describe("a home path that names a file", () => {
  it("says so, with what to do, for init and for any other command (not mkdir's EEXIST)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-homefile-"));
    const file = join(dir, "not-a-home");
    writeFileSync(file, "x");
    try {
      for (const argv of [["init"], ["sessions"]]) {
        const err: string[] = [];
        const code = await runCli([...argv, "--home", file], { out: () => {}, err: (t) => err.push(t) });
        expect(code, argv[0]).toBe(EXIT_FAILED);
        expect(err.join("\n")).toContain(`error: the home ${file} is a file, not a directory`);
        expect(err.join("\n")).toContain("hint: A home is a directory");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("an unknown option before or after a group's name", () => {
  it("is a usage error with a hint that names where to look", async () => {
    for (const [argv, hint] of [
      [["--bogus"], "hint: run 'switchyard --help' for the list of commands"],
      [["broker", "--bogus"], "hint: run 'switchyard broker --help' for its commands"],
      [["token", "--bogus"], "hint: run 'switchyard token --help' for its commands"],
    ] as const) {
      const res = await cli(...argv);
      expect(res.code, argv.join(" ")).toBe(EXIT_USAGE);
      expect(res.err).toContain("error: unknown option '--bogus'");
      expect(res.err).toContain(hint);
    }
  });
});
