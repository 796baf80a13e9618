// `switchyard token rotate`: a token by id (with an optional grace period), and the owner token
// file of the home, rewritten atomically. In-process CLI against a real home and database.
import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../functions/app.ts";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { OWNER_FILE_SAFETY_SECONDS } from "../../../local-runner/cli/token-commands.ts";
import { resolveHome } from "../../../local-runner/home.ts";
import { openDatabase } from "../../../functions/lib/db.ts";
import { sha256Hex } from "../../../functions/lib/ids.ts";
import { openLocalServices } from "../../../local-runner/services.ts";
import { cliSandbox } from "../../helpers/cli.ts";

const sb = cliSandbox("token-cli");
const ownerFile = () => join(sb.home, "owner.token");
const readOwner = () => readFileSync(ownerFile(), "utf8").trim();

/** Calls GET /v1/tokens in-process with `secret`, returning the status (401 once it is revoked). */
async function statusWith(secret: string): Promise<number> {
  // openLocalServices checks the owner file, which is fine: the file always holds a live token here.
  const services = await openLocalServices({ home: resolveHome({}, { home: sb.home }) });
  try {
    return (await createApp(services).request("/v1/tokens", { headers: { Authorization: `Bearer ${secret}` } })).status;
  } finally {
    services.database.close();
  }
}

async function mintDaemon() {
  const r = await sb.cli("token", "mint", "--scope", "daemon", "--label", "overnight", "--json");
  expect(r.code).toBe(EXIT_OK);
  return JSON.parse(r.out) as { token_id: string; token: string };
}

describe("token rotate ID", () => {
  it("prints the replacement's secret once and revokes the old token", async () => {
    expect((await sb.cli("init")).code).toBe(EXIT_OK);
    const old = await mintDaemon();
    const r = await sb.cli("token", "rotate", old.token_id);
    expect(r.code).toBe(EXIT_OK);
    const secret = /token: (sy_daemon_\S+)/.exec(r.out)?.[1];
    expect(secret).toBeDefined();
    expect(r.out).toMatch(new RegExp(`rotated daemon token ${old.token_id} -> tok_`));
    expect(r.out).toMatch(/old token revoked at/);
    const list = await sb.cli("token", "list");
    expect(list.out).toMatch(new RegExp(`${old.token_id} daemon .* revoked `));
  });

  it("keeps the old token live for --grace and says until when", async () => {
    await sb.cli("init");
    const old = await mintDaemon();
    const r = await sb.cli("token", "rotate", old.token_id, "--grace", "10m", "--json");
    expect(r.code).toBe(EXIT_OK);
    const body = JSON.parse(r.out);
    const until = Date.parse(body.replaced.revoked_at);
    expect(until - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(until - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    expect((await sb.cli("token", "list")).out).toMatch(new RegExp(`${old.token_id} daemon .* live until `));
  });

  it("fails with the API's error for an unknown token, and with a usage error for bad arguments", async () => {
    await sb.cli("init");
    const missing = await sb.cli("token", "rotate", "tok_nope");
    expect(missing.code).toBe(EXIT_FAILED);
    expect(missing.err).toMatch(/error: NOT_FOUND: no live token with id 'tok_nope'/);
    for (const argv of [
      ["token", "rotate"],
      ["token", "rotate", "tok_x", "--owner-file"],
      ["token", "rotate", "tok_x", "--grace", "soon"],
    ]) {
      const r = await sb.cli(...argv);
      expect(r.code, argv.join(" ")).toBe(EXIT_USAGE);
    }
  });
});

describe("token rotate --owner-file", () => {
  it("rewrites owner.token (0600) with the new secret, revokes the old one, and never prints a secret", async () => {
    await sb.cli("init");
    const before = readOwner();
    const r = await sb.cli("token", "rotate", "--owner-file", "--json");
    expect(r.code).toBe(EXIT_OK);
    const after = readOwner();
    expect(after).not.toBe(before);
    expect(after).toMatch(/^sy_owner_/);
    expect(statSync(ownerFile()).mode & 0o777).toBe(0o600);
    expect(r.out).not.toContain(after);
    expect(r.out).not.toContain(before);
    const body = JSON.parse(r.out);
    expect(body).toMatchObject({ token: null, owner_token_file: ownerFile() });
    expect(Date.parse(body.replaced.revoked_at)).toBeLessThanOrEqual(Date.now());

    expect(await statusWith(before)).toBe(401);
    expect(await statusWith(after)).toBe(200);
    // The CLI keeps working from the file.
    expect((await sb.cli("token", "list")).code).toBe(EXIT_OK);
  });

  it("leaves the old token live for the grace period (at least the safety minute)", async () => {
    await sb.cli("init");
    const before = readOwner();
    const r = await sb.cli("token", "rotate", "--owner-file", "--grace", "1h");
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toMatch(/old token works until/);
    expect(await statusWith(before)).toBe(200);
    expect(OWNER_FILE_SAFETY_SECONDS).toBeGreaterThanOrEqual(30);
  });
});

describe("an owner.token that stopped working", () => {
  const BIN = fileURLToPath(new URL("../../../bin/switchyard.mjs", import.meta.url));
  const KILL_AT_OWNER_FILE = fileURLToPath(new URL("../../fixtures/programs/kill-at-owner-file.cjs", import.meta.url));

  it("refuses `token rotate self` on the home's own owner.token, which would leave the file stale", async () => {
    await sb.cli("init");
    const before = readOwner();
    const r = await sb.cli("token", "rotate", "self", "--grace", "1m");
    expect(r.code).toBe(EXIT_FAILED);
    expect(r.err).toContain(`refusing to rotate the token in ${ownerFile()} without rewriting that file`);
    expect(r.err).toContain("token rotate --owner-file");
    expect(readOwner()).toBe(before);
    expect(await statusWith(before)).toBe(200);
    // Another token rotating itself is its caller's business.
    const extra = JSON.parse((await sb.cli("token", "mint", "--scope", "owner", "--json")).out).token;
    expect((await sb.cli("token", "rotate", "self", "--grace", "1m", "--token", extra)).code).toBe(EXIT_OK);
  });

  it("a rotation killed between its commit and the file: the home is recovered by init --reset-owner-token", async () => {
    await sb.cli("init");
    const old = readOwner();
    const killed = spawnSync(process.execPath, ["-r", KILL_AT_OWNER_FILE, BIN, "token", "rotate", "--owner-file", "--home", sb.home], {
      encoding: "utf8",
      env: { ...process.env, SWITCHYARD_URL: "", SWITCHYARD_TOKEN: "" },
    });
    expect(killed.signal).toBe("SIGKILL");
    // The rotation committed (a second live owner token nobody has) and the file still holds the old one.
    expect(readOwner()).toBe(old);
    // The old token's grace ends.
    const db = await openDatabase({ url: `file:${join(sb.home, "switchyard.db")}` });
    try {
      const live = await db.client.execute("SELECT id FROM tokens WHERE kind = 'owner' AND (revoked_at IS NULL OR revoked_at > 0)");
      expect(live.rows).toHaveLength(2);
      await db.client.execute({ sql: "UPDATE tokens SET revoked_at = 1 WHERE secret_hash = ?", args: [await sha256Hex(old)] });
    } finally {
      db.close();
    }
    const locked = await sb.cli("sessions");
    expect(locked.code).toBe(EXIT_FAILED);
    expect(locked.err).toContain("does not hold a live owner token");
    expect(locked.err).toContain("switchyard init --reset-owner-token");

    const reset = await sb.cli("init", "--reset-owner-token", "--json");
    expect(reset.code).toBe(EXIT_OK);
    const body = JSON.parse(reset.out);
    // The token the cut-short rotation minted is still live, and named so it can be revoked.
    expect(body.other_live_owner_tokens).toHaveLength(1);
    expect(reset.out).not.toContain(readOwner());
    expect(statSync(ownerFile()).mode & 0o777).toBe(0o600);
    expect((await sb.cli("sessions")).code).toBe(EXIT_OK);
    expect((await sb.cli("token", "revoke", body.other_live_owner_tokens[0])).code).toBe(EXIT_OK);
    // Nothing to reset while the file works.
    const again = await sb.cli("init", "--reset-owner-token");
    expect(again.code).toBe(EXIT_FAILED);
    expect(again.err).toContain("still holds a live owner token");
  });
});
