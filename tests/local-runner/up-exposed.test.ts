// `switchyard up --host`: a non-loopback bind needs --i-know-this-is-exposed, and over the
// network address every owner route still needs the owner token.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { isLoopbackHost } from "../../local-runner/loopback.ts";
import { readOwnerTokenFile, resolveHome } from "../../local-runner/home.ts";
import { killUpProcess, startUpProcess, type UpProcess } from "../helpers/up-process.ts";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "switchyard.mjs");

const dirs: string[] = [];
const ups: UpProcess[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "switchyard-exposed-"));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const u of ups) killUpProcess(u);
  await Promise.all(ups.map((u) => u.exit));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** This machine's first non-loopback IPv4 address, or null (then the test says so and uses 0.0.0.0 via loopback). */
function lanAddress(): string | null {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return null;
}

describe("up --host", () => {
  it("tells loopback from everything else", () => {
    for (const h of ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]) expect([h, isLoopbackHost(h)]).toEqual([h, true]);
    for (const h of ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "fe80::1", "example.com", "127.0.0.1.example.com"])
      expect([h, isLoopbackHost(h)]).toEqual([h, false]);
  });

  it("refuses a non-loopback address without --i-know-this-is-exposed, and opens nothing", async () => {
    const home = tmp();
    for (const host of ["0.0.0.0", lanAddress() ?? "::"]) {
      const r = await run(process.execPath, [BIN, "up", "--home", home, "--host", host, "--port", "0", "--no-cron"], { cwd: ROOT }).then(
        () => null,
        (x) => x,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`error: refusing to listen on ${host}: it is not a loopback address`);
      expect(r.stderr).toContain("--i-know-this-is-exposed");
      expect(r.stdout).toBe("");
    }
    // Refused before the home was opened: no database was created.
    expect(readOwnerTokenFile(resolveHome({}, { home }))).toBeNull();
  });

  it("refuses a wake interval out of range as a usage error", async () => {
    const r = await run(process.execPath, [BIN, "up", "--home", tmp(), "--port", "0", "--wake-interval", "10"], { cwd: ROOT }).then(
      () => null,
      (x) => x,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--wake-interval 10: the wake interval must be a whole number of ms from 100 to 60000");
  });

  it("with the acknowledgement listens on every interface; over the network address owner routes need the owner token", async () => {
    const home = tmp();
    const up = startUpProcess(home, ["--host", "0.0.0.0", "--i-know-this-is-exposed", "--no-cron"]);
    ups.push(up);
    const printed = await up.url;
    expect(up.stdout()).toContain("exposed:    listening on 0.0.0.0; plain HTTP");
    const lan = lanAddress();
    if (!lan) console.log("no non-loopback IPv4 address on this machine: calling the 0.0.0.0 server through 127.0.0.1 instead");
    const base = printed.replace("0.0.0.0", lan ?? "127.0.0.1");
    const owner = readOwnerTokenFile(resolveHome({}, { home }))!;
    const get = (path: string, token?: string) => fetch(`${base}/v1${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    const mint = (token?: string) =>
      fetch(`${base}/v1/tokens`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ scope: "runner", host: "box-2" }),
      });
    expect((await get("/tokens")).status).toBe(401);
    expect((await get("/tokens", "not-a-token")).status).toBe(401);
    expect((await mint()).status).toBe(401);
    const minted = await mint(owner);
    expect(minted.status).toBe(201);
    const runner = ((await minted.json()) as { token: string }).token;
    // A runner token reached the server over the network, but owner actions stay the owner's.
    expect((await get("/tokens", runner)).status).toBe(403);
    expect((await mint(runner)).status).toBe(403);
    expect((await get("/tokens", owner)).status).toBe(200);
  });
});
