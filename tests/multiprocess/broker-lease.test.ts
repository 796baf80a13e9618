import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../functions/app.ts";
import { tokenInsert } from "../../functions/lib/auth.ts";
import { makeId } from "../../functions/lib/ids.ts";
import { resolveHome } from "../../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../../local-runner/services.ts";
import { brokerEvents, brokerRuns } from "../../schema/broker.ts";

/**
 * Two real `switchyard broker daemon` processes on one file database and one run: only the
 * lease holder processes; after the holder is killed with SIGKILL (no chance to release) the
 * other refuses until the lease has expired, then takes the run over.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "bin", "switchyard.mjs");
const LEASE_SECONDS = 2;
/** Per wait; two tsx start-ups on a loaded 2-core box can take tens of seconds. */
const WAIT_MS = 60_000;

type Line = { event: string; processed?: boolean; taken_over_from?: string | null; code?: string; reason?: string };

interface Daemon {
  id: string;
  child: ChildProcess;
  lines: Line[];
  exit: Promise<number | null>;
}

let dir: string | undefined;
let services: LocalServices | undefined;
const started: Daemon[] = [];
afterEach(() => {
  for (const d of started.splice(0)) if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill("SIGKILL");
  services?.database.close();
  services = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function startDaemon(home: string, runId: string, id: string): Daemon {
  const child = spawn(
    process.execPath,
    [CLI, "broker", "daemon", "--run-id", runId, "--daemon-id", id, "--interval-seconds", "0.2", "--lease-seconds", String(LEASE_SECONDS), "--home", home],
    {
      cwd: ROOT,
      env: { ...process.env, SWITCHYARD_NO_BUNDLE: "1", SWITCHYARD_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const lines: Line[] = [];
  createInterface({ input: child.stdout! }).on("line", (t) => lines.push(JSON.parse(t) as Line));
  child.stderr!.setEncoding("utf8").on("data", () => {});
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const d = { id, child, lines, exit };
  started.push(d);
  return d;
}

/** Polls `check` until it holds; fails with `what` if it never does. */
async function until(what: string, check: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const processed = (d: Daemon) => d.lines.filter((l) => l.event === "tick" && l.processed).length;
const refused = (d: Daemon) => d.lines.filter((l) => l.event === "tick_refused" && l.code === "CONFLICT").length;

describe("run lease across OS processes", () => {
  it("lets one daemon process a run; the other takes over only after the holder dies and its lease expires", { timeout: 240_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), "switchyard-lease-"));
    const home = join(dir, "home");
    services = await openLocalServices({ home: { ...resolveHome({}, { home }), hostName: "lease-test" } });
    const app = createApp(services);
    const owner = { Authorization: `Bearer ${services.ownerToken}`, "Content-Type": "application/json" };
    const created = await (
      await app.request("/v1/broker/runs", { method: "POST", headers: owner, body: JSON.stringify({ mode: "overnight_dry_run", objective: "lease test" }) })
    ).json();
    const runId = created.run_id as string;
    expect((await app.request(`/v1/broker/runs/${runId}/start`, { method: "POST", headers: owner })).status).toBe(200);
    const daemonToken = await tokenInsert(services.database.db, { id: makeId("tok", Date.now()), kind: "daemon", nowMs: Date.now() });
    await daemonToken.stmt;
    writeFileSync(join(home, "daemon.token"), `${daemonToken.secret}\n`, { mode: 0o600 });

    const a = startDaemon(home, runId, "daemon-a");
    await until("daemon-a processes the run", () => processed(a) >= 2);
    const b = startDaemon(home, runId, "daemon-b");
    await until("daemon-b is refused several times", () => refused(b) >= 5);
    expect(processed(b)).toBe(0);

    // Every tick recorded against the run so far was daemon-a's.
    const ticks = async () => services!.database.db.select().from(brokerEvents).where(eq(brokerEvents.runId, runId));
    const holdersBefore = new Set((await ticks()).filter((e) => e.kind === "tick").map((e) => e.payload.holder));
    expect([...holdersBefore]).toEqual(["daemon-a"]);

    a.child.kill("SIGKILL");
    await a.exit;
    await until("daemon-b takes the run over", () => processed(b) >= 1);
    const takeover = b.lines.find((l) => l.event === "tick" && l.processed)!;
    expect(takeover.taken_over_from).toBe("daemon-a");

    const events = await ticks();
    const taken = events.find((e) => e.kind === "lease_taken_over")!;
    expect(taken.payload).toMatchObject({ holder: "daemon-b", previous_owner: "daemon-a" });
    // The takeover happened no earlier than the dead holder's lease allowed.
    expect(taken.createdAt).toBeGreaterThanOrEqual(Date.parse(taken.payload.previous_expires_at as string));
    // daemon-a's last tick came before the takeover and nobody but b ticked after it.
    const after = events.filter((e) => e.kind === "tick" && e.id > taken.id).map((e) => e.payload.holder);
    expect(new Set(after)).toEqual(new Set(["daemon-b"]));

    // A SIGTERM ends b cleanly and hands the lease back.
    b.child.kill("SIGTERM");
    expect(await b.exit).toBe(0);
    const [run] = await services.database.db.select().from(brokerRuns).where(eq(brokerRuns.id, runId));
    expect(run!.leaseOwner).toBeNull();
    expect(b.lines.at(-1)).toMatchObject({ event: "daemon_exit", reason: "signal" });
  });
});
