import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readOwnerTokenFile, resolveHome } from "../../local-runner/home.ts";
import { FAKE_TUI, userMessages } from "../functions/actuate/fake-tui.ts";
import { killUpProcess, startUpProcess, type UpProcess } from "../helpers/up-process.ts";

/**
 * The hub layout on three "machines" made of Linux network namespaces joined by a bridge: the
 * hub (`switchyard up --host 10.x.y.1 --i-know-this-is-exposed`) in one, and on each of two
 * others a worker (the fake agent TUI) in that host's own tmux server and a `switchyard runner
 * --url --token-file --host`. The test process reaches the hub over a fourth veth, as the
 * operator's machine would. Each host has its own SWITCHYARD_HOST_NAME and its own tmux socket
 * directory (TMUX_TMPDIR), so a runner that typed into the other host's pane would have to find
 * a tmux server it cannot see.
 *
 * Needs root and iproute2; skipped with the reason printed where `ip netns add` fails.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "switchyard.mjs");
const ID = process.pid % 100_000;
const NET = `10.231.${process.pid % 250}`;
const NS = { hub: `sy-${ID}-hub`, a: `sy-${ID}-a`, b: `sy-${ID}-b` };
const IF = { br: `sy${ID}br`, root: `sy${ID}r`, rootHub: `sy${ID}hr` };
const HUB_ADDR = `${NET}.1`;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });

/** Why the test cannot run here, or null when network namespaces can be made. */
function unavailable(): string | null {
  if (process.platform !== "linux") return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "creating network namespaces needs root";
  const probe = `sy-${ID}-probe`;
  try {
    ip("netns", "add", probe);
    ip("netns", "del", probe);
    return null;
  } catch (e) {
    return `ip netns add failed: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`;
  }
}
const skipReason = unavailable();
if (skipReason) console.log(`multi-host test skipped: ${skipReason}`);

interface HostDir {
  name: string;
  ns: string;
  addr: string;
  dir: string;
  env: Record<string, string>;
  rollout: string;
  tuiPid: number;
  sessionToken: string;
}

let work: string;
let hub: UpProcess | undefined;
let base: string;
let owner: string;
const hosts: Record<"a" | "b", HostDir> = {} as never;
const runners: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tmux(h: HostDir, ...args: string[]) {
  return execFileSync("ip", ["netns", "exec", h.ns, "tmux", ...args], { env: { ...process.env, ...h.env }, stdio: "pipe" }).toString();
}

async function api(method: string, path: string, body?: unknown, token = owner) {
  const res = await fetch(`${base}/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Starts `switchyard runner` inside the host's namespace; its pid is the runner's (ip netns exec execs it). */
function startRunner(h: HostDir, runnerId: string, tokenFile: string): ChildProcess & { out: () => string } {
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      h.ns,
      process.execPath,
      BIN,
      "runner",
      "--url",
      base,
      "--token-file",
      tokenFile,
      "--host",
      h.name,
      "--runner-id",
      runnerId,
      "--interval",
      "0.2",
      "--lease-seconds",
      "5",
      "--json",
    ],
    { cwd: ROOT, env: { ...process.env, ...h.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
  runners.push(child);
  return Object.assign(child, { out: () => out });
}

async function commandOf(id: string) {
  const list = await api("GET", "/commands?attempts=true&limit=200");
  return list.body.commands.find((c: { id: string }) => c.id === id);
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(skipReason !== null)("the hub layout across network namespaces", () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "switchyard-netns-"));
    for (const ns of Object.values(NS)) ip("netns", "add", ns);
    ip("-n", NS.hub, "link", "set", "lo", "up");
    ip("-n", NS.hub, "link", "add", IF.br, "type", "bridge");
    ip("-n", NS.hub, "addr", "add", `${HUB_ADDR}/24`, "dev", IF.br);
    ip("-n", NS.hub, "link", "set", IF.br, "up");
    // One veth per other machine, its hub end on the bridge.
    const links: Array<[string | null, string, string, string]> = [
      [NS.a, `sy${ID}ha`, `sy${ID}a`, `${NET}.2`],
      [NS.b, `sy${ID}hb`, `sy${ID}b`, `${NET}.3`],
      [null, IF.rootHub, IF.root, `${NET}.100`],
    ];
    for (const [ns, hubEnd, farEnd, addr] of links) {
      ip("link", "add", hubEnd, "netns", NS.hub, "type", "veth", "peer", "name", farEnd, ...(ns ? ["netns", ns] : []));
      ip("-n", NS.hub, "link", "set", hubEnd, "master", IF.br);
      ip("-n", NS.hub, "link", "set", hubEnd, "up");
      const inNs = ns ? ["-n", ns] : [];
      ip(...inNs, "addr", "add", `${addr}/24`, "dev", farEnd);
      ip(...inNs, "link", "set", farEnd, "up");
      if (ns) ip(...inNs, "link", "set", "lo", "up");
    }

    const hubHome = join(work, "hub");
    hub = startUpProcess(
      hubHome,
      ["--host", HUB_ADDR, "--i-know-this-is-exposed", "--no-cron"],
      { SWITCHYARD_HOST_NAME: "hub" },
      { wrap: ["ip", "netns", "exec", NS.hub] },
    );
    base = await hub.url;
    expect(base).toMatch(new RegExp(`^http://${HUB_ADDR.replace(/\./g, "\\.")}:\\d+$`));
    owner = readOwnerTokenFile(resolveHome({}, { home: hubHome }))!;

    for (const [key, ns, addr] of [
      ["a", NS.a, `${NET}.2`],
      ["b", NS.b, `${NET}.3`],
    ] as const) {
      const dir = join(work, key);
      const env = {
        SWITCHYARD_HOST_NAME: `host-${key}`,
        TMUX_TMPDIR: join(dir, "tmux"),
        CODEX_HOME: join(dir, "codex"),
        SWITCHYARD_URL: "",
        SWITCHYARD_TOKEN: "",
      };
      mkdirSync(env.TMUX_TMPDIR, { recursive: true });
      const rollout = join(env.CODEX_HOME, "sessions", "2026", "01", "01", `rollout-${key}.jsonl`);
      const h: HostDir = { name: `host-${key}`, ns, addr, dir, env, rollout, tuiPid: 0, sessionToken: "" };
      tmux(h, "new-session", "-d", "-s", `worker-${key}`, "-x", "120", "-y", "30", process.execPath, FAKE_TUI, rollout, "300");
      await until(`worker ${key}'s rollout`, async () => {
        try {
          return userMessages(rollout) && true;
        } catch {
          return false;
        }
      });
      h.tuiPid = Number(tmux(h, "display-message", "-p", "-t", `=worker-${key}:`, "#{pane_pid}").trim());
      hosts[key] = h;
    }
  });

  afterAll(async () => {
    for (const r of runners) if (r.exitCode === null && r.signalCode === null) r.kill("SIGKILL");
    if (hub) {
      killUpProcess(hub);
      await hub.exit;
    }
    for (const h of Object.values(hosts)) {
      try {
        process.kill(h.tuiPid, "SIGCONT");
        tmux(h, "kill-server");
      } catch {
        // Already gone.
      }
    }
    for (const ns of Object.values(NS)) {
      try {
        ip("netns", "del", ns);
      } catch {
        // Never created (a failed setup) or already gone.
      }
    }
    try {
      ip("link", "del", IF.root);
    } catch {
      // Deleting the hub namespace already removed the pair.
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("each host's runner executes only its own host's nudges, over runner and session tokens on the network", { timeout: 120_000 }, async () => {
    // The operator (this process) mints a runner token per host on the hub; each goes to a 0600 file.
    const tokenFiles: Record<string, string> = {};
    for (const key of ["a", "b"] as const) {
      const h = hosts[key];
      const mint = await api("POST", "/tokens", { scope: "runner", host: h.name });
      expect(mint.status).toBe(201);
      tokenFiles[key] = join(h.dir, "runner.token");
      writeFileSync(tokenFiles[key]!, `${mint.body.token}\n`, { mode: 0o600 });
      chmodSync(tokenFiles[key]!, 0o600);
      // The runner token registers its own host's worker; the hub cannot see that host's files.
      const reg = await api(
        "POST",
        "/sessions",
        { name: `w-${key}`, role: "worker", tmux_session: `worker-${key}`, codex_session: h.rollout, pid: h.tuiPid, host: h.name },
        mint.body.token,
      );
      expect(reg.status).toBe(201);
      expect(reg.body.session.host).toBe(h.name);
      h.sessionToken = reg.body.token;
      // A runner token of one host cannot register a session on another.
      const foreign = await api("POST", "/sessions", { name: `x-${key}`, role: "worker", host: key === "a" ? "host-b" : "host-a" }, mint.body.token);
      expect(foreign.status).toBe(403);
    }
    // Session tokens work over the network for their own session only.
    expect((await api("GET", "/sessions/w-a/inbox", undefined, hosts.a.sessionToken)).status).toBe(200);
    expect((await api("GET", "/sessions/w-b/inbox", undefined, hosts.a.sessionToken)).status).toBe(403);

    const nudges: Record<string, string> = {};
    for (const key of ["a", "b"] as const) {
      const res = await api("POST", `/sessions/w-${key}/nudge`, { text: `hello ${key} from the hub` });
      expect(res.status).toBe(202);
      expect(res.body.queued).toBe(true);
      nudges[key] = res.body.command_id;
    }
    const runA = startRunner(hosts.a, "ra1", tokenFiles.a!);
    const runB = startRunner(hosts.b, "rb1", tokenFiles.b!);
    for (const key of ["a", "b"] as const) {
      const c = await until(`nudge ${key} to finish`, async () => {
        const cmd = await commandOf(nudges[key]!);
        return cmd?.state === "succeeded" || cmd?.state === "failed" ? cmd : null;
      });
      expect({ key, state: c.state, error: c.error }).toEqual({ key, state: "succeeded", error: null });
      expect(c.attempt_history.map((a: any) => a.dispatcher_id)).toEqual([`runner:host-${key}:r${key}1`]);
    }
    expect(userMessages(hosts.a.rollout)).toEqual(["hello a from the hub"]);
    expect(userMessages(hosts.b.rollout)).toEqual(["hello b from the hub"]);
    expect(runA.out()).not.toContain(nudges.b!);
    expect(runB.out()).not.toContain(nudges.a!);
    runB.kill("SIGTERM");

    // A runner killed mid-command: host a's agent is frozen, so the nudge is typed but cannot be
    // verified; the runner dies while the attempt is under way.
    process.kill(hosts.a.tuiPid, "SIGSTOP");
    const mid = await api("POST", "/sessions/w-a/nudge", { text: "second for a" });
    expect(mid.status).toBe(202);
    const id = mid.body.command_id as string;
    await until("the side effect to start", async () => (await commandOf(id))?.attempt_history?.some((a: any) => a.side_effect_started));
    runA.kill("SIGKILL");
    await new Promise((r) => runA.once("close", r));
    process.kill(hosts.a.tuiPid, "SIGCONT");

    // A new runner for host a: the expired lease makes the command ambiguous, not pending, so it
    // is not typed again without the owner's say.
    const runA2 = startRunner(hosts.a, "ra2", tokenFiles.a!);
    const ambiguous = await until("the lease to expire", async () => {
      const c = await commandOf(id);
      return c?.state === "ambiguous" ? c : null;
    });
    expect(ambiguous.attempt_history).toEqual([
      expect.objectContaining({ dispatcher_id: "runner:host-a:ra1", side_effect_started: true, side_effect_completed: false }),
    ]);
    await sleep(1500);
    // Killed mid-nudge, the text may or may not have been submitted; it never was twice.
    const before = userMessages(hosts.a.rollout).filter((m) => m.includes("second for a"));
    expect(before.length).toBeLessThanOrEqual(1);
    expect(runA2.out()).not.toContain(id);

    // Recoverable: the owner decides it may run again, and the live runner does it.
    expect((await api("POST", `/commands/${id}/requeue`, {})).status).toBe(200);
    const done = await until("the requeued nudge", async () => {
      const c = await commandOf(id);
      return c?.state === "succeeded" ? c : null;
    });
    expect(done.attempt_history.map((a: any) => [a.dispatcher_id, a.claim_generation])).toEqual([
      ["runner:host-a:ra1", 1],
      ["runner:host-a:ra2", 2],
    ]);
    expect(userMessages(hosts.a.rollout).filter((m) => m.includes("second for a")).length).toBe(before.length + 1);
    expect(userMessages(hosts.b.rollout)).toEqual(["hello b from the hub"]);
    runA2.kill("SIGTERM");
  });
});
