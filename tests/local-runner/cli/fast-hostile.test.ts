import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFast } from "../../../local-runner/cli/fast.ts";
import { resolveHome } from "../../../local-runner/home.ts";
import { openLocalServices, type LocalServices } from "../../../local-runner/services.ts";
import { processStartMark, writeUpRecord } from "../../../local-runner/up-record.ts";

// Hostile review of the CLI fast path (local-runner/cli/fast.ts). A home's up.json names a
// server by URL and pid; the pid is only checked to exist. After `switchyard up` dies without
// removing its record (kill -9, OOM, reboot) the pid can be reused by any process and the port
// taken by anything. The full CLI then answers in-process and never talks to that port; the
// fast path sends the owner's bearer token there first and only afterwards decides whether to
// trust the answer (401 only).

const CLI_ENV = ["SWITCHYARD_URL", "SWITCHYARD_TOKEN", "SWITCHYARD_HOME", "SWITCHYARD_DB_URL", "SWITCHYARD_HOST_NAME"] as const;
const saved: Partial<Record<string, string>> = {};
let dir = "";
let home = "";
let services: LocalServices;

/** A listener on 127.0.0.1 that is not Switchyard: it records what it is sent and answers with `reply` (or never). */
async function impostor(reply: string | null): Promise<{ url: string; received: string[]; server: Server; sockets: Socket[] }> {
  const received: string[] = [];
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    let text = "";
    s.on("data", (c) => {
      text += c.toString("latin1");
      if (text.includes("\r\n\r\n")) {
        received.push(text);
        if (reply !== null) s.end(reply);
      }
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, received, server, sockets };
}

function recordStaleUp(url: string) {
  // process.pid stands for a reused pid: alive, and not the process that wrote the record (its
  // start mark is another process's, as after `up` died and the kernel handed the pid on).
  const mark = processStartMark(process.pid);
  const started = mark ? `${mark.slice(0, mark.lastIndexOf(":"))}:1` : undefined;
  writeFileSync(join(home, "up.json"), JSON.stringify({ url, pid: process.pid, db: services.home.dbUrl, host: resolveHome({}, { home }).hostName, started }));
}

async function fast(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runFast(argv, { env: process.env, cwd: dir, io: { out: (t) => out.push(t), err: (t) => err.push(t) } });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

beforeAll(async () => {
  for (const k of CLI_ENV) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  dir = mkdtempSync(join(tmpdir(), "switchyard-fast-hostile-"));
  home = join(dir, "home");
  services = await openLocalServices({ home: resolveHome({}, { home }) });
});
afterAll(async () => {
  services?.database.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  for (const k of CLI_ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe("fast path against a stale up.json (pid reused, port taken by another program)", () => {
  // FOUND (security): the owner token was written to whatever listened on the recorded port
  // before the answer was judged. Fixed: up.json carries the up's start mark (boot id and start
  // time from /proc) and the fast path uses only a record whose pid still has that mark.
  it("never sends the owner token to a listener that is not the home's up", async () => {
    const imp = await impostor("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
    recordStaleUp(imp.url);
    try {
      const r = await fast(["sessions", "--home", home]);
      expect(r.code).toBeNull();
      expect(imp.received.join("")).not.toContain(services.ownerToken);
    } finally {
      imp.server.close();
      rmSync(join(home, "up.json"), { force: true });
    }
  });

  // FOUND (correctness): another program's answer was printed as the command's (a 404 as
  // "error: INTERNAL: HTTP 404", exit 1, where the full CLI lists the sessions). Fixed with the
  // same start mark: that listener is never asked.
  it("does not print another program's 404 as the answer", async () => {
    const imp = await impostor("HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nnot found");
    recordStaleUp(imp.url);
    try {
      expect(await fast(["sessions", "--home", home])).toEqual({ code: null, out: "", err: "" });
    } finally {
      imp.server.close();
      rmSync(join(home, "up.json"), { force: true });
    }
  });

  // FOUND (availability): a listener that accepts and never answers (a wedged or
  // SIGSTOPped up, or another program) hangs `switchyard sessions` forever; the full CLI would
  // answer in-process. Fixed: get() in fast.ts gives up after 5 s of silence and returns null,
  // so the read falls through to the full CLI.
  it("does not hang when the recorded up never answers (wedged or stopped)", async () => {
    const imp = await impostor(null);
    // A genuine record of this (live) process: the fast path does connect, and must give up.
    writeUpRecord(home, imp.url, { dbUrl: services.home.dbUrl, host: resolveHome({}, { home }).hostName });
    try {
      const outcome = await Promise.race([fast(["sessions", "--home", home]), new Promise((r) => setTimeout(() => r("hung"), 15_000))]);
      expect(outcome).toEqual({ code: null, out: "", err: "" });
      expect(imp.received).toHaveLength(1);
    } finally {
      for (const s of imp.sockets) s.destroy();
      imp.server.close();
      rmSync(join(home, "up.json"), { force: true });
    }
  }, 30_000);
});
