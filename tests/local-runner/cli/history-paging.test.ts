import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { BROKER_COMMANDS } from "../../../local-runner/cli/broker-commands.ts";
import { EXIT_OK, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { cliSandbox, followPages } from "../../helpers/cli.ts";

const sb = cliSandbox("history-paging");
const cli = sb.cli;

const follow = (args: string[]) => followPages(cli, args);
const CLI_DIR = fileURLToPath(new URL("../../../local-runner/cli/", import.meta.url));

describe("history lists on the CLI page with --limit/--cursor and print the next page's command", () => {
  it("task bindings walks a task's whole history; task show counts it and names the command", async () => {
    expect((await cli("register-worker", "--name", "w1")).code).toBe(EXIT_OK);
    expect((await cli("register-manager", "--name", "m1")).code).toBe(EXIT_OK);
    expect((await cli("tasks", "--create", "feat", "--goal", "ship it")).code).toBe(EXIT_OK);
    for (let i = 0; i < 3; i++) {
      if (i) expect((await cli("unbind", "--task", "feat")).code).toBe(EXIT_OK);
      expect((await cli("bind", "--task", "feat", "--worker", "w1", "--manager", "m1")).code).toBe(EXIT_OK);
    }
    const pages = await follow(["task", "bindings", "feat", "--limit", "2"]);
    expect(pages.map((p) => p.split("\n").length)).toEqual([2, 1]);
    expect(pages.join("\n").match(/ (active|ended) since/g)).toEqual([" active since", " ended since", " ended since"]);
    expect((await cli("task", "show", "feat")).out).toContain("history: 3 binding(s) (list them: switchyard task bindings feat)");
  });

  it("convoy show prints the first tracked tasks and the command for the rest; convoy tasks pages", async () => {
    const names = Array.from({ length: 22 }, (_, i) => `t${String(i).padStart(2, "0")}`);
    for (const n of names) expect((await cli("tasks", "--create", n, "--goal", "g")).code).toBe(EXIT_OK);
    const created = await cli("convoy", "create", "--title", "big", ...names.flatMap((n) => ["--track", n]), "--json");
    expect(created.code, created.err).toBe(EXIT_OK);
    const id = JSON.parse(created.out).convoy_id;
    const shown = await cli("convoy", "show", id);
    expect(shown.out.split("\n").filter((l) => /^ {2}t\d\d /.test(l))).toHaveLength(20);
    expect(shown.out).toMatch(new RegExp(`\\nmore: switchyard convoy tasks ${id} --home ${sb.home} --cursor \\S+$`));
    const pages = await follow(["convoy", "tasks", id, "--limit", "10"]);
    expect(pages.map((p) => p.split("\n").length)).toEqual([10, 10, 2]);
    expect(pages.join("\n").match(/t\d\d/g)).toEqual(names);
  });

  it("broker run-events pages with --cursor; --after-id still works but not with --cursor", async () => {
    const id = JSON.parse((await cli("broker", "run-create", "--mode", "supervised", "--objective", "o", "--json")).out).run_id;
    expect((await cli("broker", "run-start", id)).code).toBe(EXIT_OK);
    expect((await cli("broker", "run-stop", id, "--reason", "done")).code).toBe(EXIT_OK);
    const pages = await follow(["broker", "run-events", id, "--limit", "1"]);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.map((p) => p.split(/\s+/)[2])).toEqual(expect.arrayContaining(["run_created", "run_started"]));
    const firstId = pages[0]!.split(" ")[0]!;
    // The next page's command carries the cursor, not the --after-id it started from.
    const after = await cli("broker", "run-events", id, "--after-id", firstId, "--limit", "1");
    expect(after.out.split("\n")[0]).toBe(pages[1]);
    expect(after.out).toMatch(new RegExp(`\\nmore: switchyard broker run-events \\S+ --limit 1 --home ${sb.home} --cursor \\S+$`));
    const both = await cli("broker", "run-events", id, "--after-id", firstId, "--cursor", "x");
    expect(both).toMatchObject({ code: EXIT_USAGE, err: expect.stringContaining("--cursor or --after-id") });
    const bad = await cli("broker", "run-events", id, "--cursor", "not-a-cursor");
    expect(bad.code).not.toBe(EXIT_OK);
    expect(bad.err).toContain("cursor");
  });

  it("broker review and orchestrator show say when they hold only the newest events, and which command lists all", () => {
    const spec = (name: string) => BROKER_COMMANDS.find((s) => s.name === name)!;
    const event = (id: number) => ({ id, created_at: `2026-01-01T00:00:${String(id).padStart(2, "0")}Z`, kind: "k", advice_id: "adv_1", payload: {} });
    const advice = { id: "adv_1", state: "queued", thread_id: "th", to_session_id: "s", research_policy: "deny", request_text: "q" };
    const job = { id: "job_1", state: "queued", advice_id: "adv_1", attempts: 0, max_attempts: 3, claim_generation: 0 };
    const noArgs = { values: {}, positionals: [] };
    const review = spec("broker review").render!({ advice, events: [event(1), event(2)], events_total: 30 }, noArgs);
    expect(review).toContain("events (the newest 2 of 30; all: switchyard broker advice-events adv_1):");
    expect(spec("broker review").render!({ advice, events: [event(1)], events_total: 1 }, noArgs)).toContain("\nevents:\n");
    const show = spec("orchestrator show").render!({ job, advice, events: [event(1)], events_total: 21 }, noArgs);
    expect(show).toContain("events (the newest 1 of 21; all: switchyard orchestrator events job_1):");
    const list = spec("orchestrator events").render!(
      { job_id: "job_1", events: [event(1)], count: 1, next_cursor: "C1" },
      { values: { limit: "1" }, positionals: ["job_1"] },
    );
    expect(list).toMatch(/\nmore: switchyard orchestrator events job_1 --limit 1 --cursor C1$/);
    const adv = spec("broker advice-events").render!(
      { advice_id: "adv_1", events: [event(1)], count: 1, next_cursor: "C2" },
      { values: {}, positionals: ["adv_1"] },
    );
    expect(adv).toMatch(/\nmore: switchyard broker advice-events adv_1 --cursor C2$/);
  });
  it("every next-page command keeps the list's filters and --limit, and --limit goes as high as the route serves", async () => {
    expect((await cli("tasks", "--create", "noted", "--goal", "g")).code).toBe(EXIT_OK);
    for (const text of ["about-1", "about-2", "about-3"]) expect((await cli("note", "add", text, "--task", "noted")).code).toBe(EXIT_OK);
    for (const text of ["loose-1", "loose-2"]) expect((await cli("note", "add", text)).code).toBe(EXIT_OK);
    const first = await cli("notes", "--task", "noted", "--limit", "1");
    // The home it was given is repeated: the cursor walks that database only.
    expect(first.out).toMatch(new RegExp(`\\nmore: switchyard notes --task noted --limit 1 --home ${sb.home} --cursor \\S+$`));
    const pages = await follow(["notes", "--task", "noted", "--limit", "1"]);
    expect(pages.join("\n").match(/(about|loose)-\d/g)).toEqual(["about-3", "about-2", "about-1"]);
    // Lists whose routes serve pages of up to 1000.
    expect((await cli("register-worker", "--name", "pager")).code).toBe(EXIT_OK);
    for (const argv of [
      ["commands", "--limit", "1000"],
      ["messages", "--limit", "1000"],
      ["tail", "pager", "--limit", "1000"],
      ["divergences", "noted", "--limit", "1000"],
    ]) {
      const r = await cli(...argv);
      expect(r.code, `${argv.join(" ")}: ${r.err}`).toBe(EXIT_OK);
    }
    expect((await cli("commands", "--limit", "1001")).code).toBe(EXIT_USAGE);
    // No list prints a bare cursor any more: every hint is a command to run.
    for (const file of readdirSync(CLI_DIR).filter((f) => f.endsWith(".ts"))) {
      expect(readFileSync(join(CLI_DIR, file), "utf8"), file).not.toMatch(/more: --cursor/);
    }
  });
});
