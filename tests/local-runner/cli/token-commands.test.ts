// `switchyard token rotate`: a token by id (with an optional grace period), and the owner token
// file of the home, rewritten atomically. In-process CLI against a real home and database.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../functions/app.ts";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../../../local-runner/cli/main.ts";
import { OWNER_FILE_SAFETY_SECONDS } from "../../../local-runner/cli/token-commands.ts";
import { resolveHome } from "../../../local-runner/home.ts";
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
