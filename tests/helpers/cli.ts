import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, expect, vi } from "vitest";
import { EXIT_OK, runCli } from "../../local-runner/cli/main.ts";

/** Variables the CLI reads; a test file runs with all of them unset unless it sets them. */
const CLI_ENV = ["SWITCHYARD_URL", "SWITCHYARD_TOKEN", "SWITCHYARD_HOME", "SWITCHYARD_DB_URL", "SWITCHYARD_HOST_NAME", "SWITCHYARD_BROKER_DRAFTER"] as const;

/** What one CLI run printed and returned. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/**
 * Registers the hooks of a CLI test file: the CLI's environment cleared (then `env` set) for
 * the file, and a fresh, empty temp home directory per test (a home must exist: only `init`
 * and `up` create one). `cli(...argv)` runs the CLI in-process against that home; local
 * commands that print to process.stdout (dispatch, up, doctor) are captured too.
 */
export function cliSandbox(prefix: string, env: Record<string, string> = {}) {
  const saved: Partial<Record<string, string>> = {};
  let home = "";
  beforeAll(() => {
    for (const k of CLI_ENV) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
    Object.assign(process.env, env);
  });
  afterAll(() => {
    for (const k of CLI_ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  beforeEach(() => {
    home = join(mkdtempSync(join(tmpdir(), `switchyard-${prefix}-`)), "home");
    mkdirSync(home);
  });
  afterEach(() => rmSync(join(home, ".."), { recursive: true, force: true }));
  return {
    /** This test's home directory. */
    get home() {
      return home;
    },
    async cli(...argv: string[]): Promise<CliRun> {
      const out: string[] = [];
      const err: string[] = [];
      const write = vi.spyOn(process.stdout, "write").mockImplementation((t) => {
        out.push(String(t));
        return true;
      });
      try {
        const code = await runCli([...argv, "--home", home], { out: (t) => out.push(t), err: (t) => err.push(t) });
        return { code, out: out.join("\n"), err: err.join("\n") };
      } finally {
        write.mockRestore();
      }
    },
  };
}

/**
 * Runs a list command, then each `more: switchyard …` command it prints, until a page has none;
 * returns every page's output without that line. Each page must exit 0.
 */
export async function followPages(cli: (...argv: string[]) => Promise<CliRun>, args: string[]): Promise<string[]> {
  const pages: string[] = [];
  let next: string[] | null = args;
  while (next) {
    const r = await cli(...next);
    expect(r.code, r.err).toBe(EXIT_OK);
    const more = /^more: switchyard (.+)$/m.exec(r.out);
    pages.push(r.out.replace(/\nmore: .*$/, ""));
    next = more ? more[1]!.split(" ") : null;
  }
  return pages;
}
