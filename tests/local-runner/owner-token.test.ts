// Two processes starting on one fresh home race to record the owner token. These tests open
// separate connections to one real database file, as two `up` processes would.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../functions/lib/db.ts";
import { resolveHome } from "../../local-runner/home.ts";
import { migrateDatabase } from "../../local-runner/migrate.ts";
import { ensureOwnerToken } from "../../local-runner/services.ts";

const dirs: string[] = [];
const dbs: Database[] = [];

afterEach(() => {
  for (const d of dbs.splice(0)) d.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function freshHome() {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-owner-"));
  dirs.push(dir);
  const home = resolveHome({}, { home: dir });
  const first = await openDatabase({ url: home.dbUrl });
  dbs.push(first);
  await migrateDatabase(first);
  const second = await openDatabase({ url: home.dbUrl });
  dbs.push(second);
  return { home, first, second };
}

describe("ensureOwnerToken on a fresh home", () => {
  it("lets two processes adopt the same owner.token file at once: both succeed with one owner row", async () => {
    const { home, first, second } = await freshHome();
    const secret = `sy_owner_${"ab".repeat(24)}`;
    writeFileSync(home.ownerTokenFile, secret, { mode: 0o600 });
    const now = Date.now();
    const results = await Promise.allSettled([ensureOwnerToken(first, home, now), ensureOwnerToken(second, home, now + 1)]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
    expect(results.map((r) => (r as PromiseFulfilledResult<string>).value)).toEqual([secret, secret]);
    const rows = await first.client.execute("SELECT kind, label FROM tokens WHERE kind = 'owner'");
    expect(rows.rows.map((r) => [r.kind, r.label])).toEqual([["owner", "owner.token"]]);
  });

  it("lets two processes start with no file at all: both end up with the one secret in the file", async () => {
    const { home, first, second } = await freshHome();
    const now = Date.now();
    const [a, b] = await Promise.all([ensureOwnerToken(first, home, now), ensureOwnerToken(second, home, now + 1)]);
    expect(a).toBe(b);
    const rows = await first.client.execute("SELECT count(*) AS n FROM tokens WHERE kind = 'owner' AND revoked_at IS NULL");
    expect(Number(rows.rows[0]!.n)).toBeGreaterThanOrEqual(1);
  });

  it("does not refuse a start whose partner wrote the file after our first look and inserted its row before our read", async () => {
    const { home, first } = await freshHome();
    // The partner's order: the file, then its row. We look for the file (missing), the partner
    // does both, then we read the live owner rows: the branch that used to refuse.
    const secret = `sy_owner_${"cd".repeat(24)}`;
    let partnerDone = false;
    const racing = await openDatabase({
      url: home.dbUrl,
      wrapClient: (client) =>
        new Proxy(client, {
          get(target, prop, receiver) {
            const value = Reflect.get(target, prop, receiver);
            if (prop !== "execute" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
            return async (...args: unknown[]) => {
              const sql = typeof args[0] === "string" ? args[0] : (args[0] as { sql: string }).sql;
              if (!partnerDone && /from "tokens"/i.test(sql)) {
                partnerDone = true;
                writeFileSync(home.ownerTokenFile, secret, { mode: 0o600 });
                await ensureOwnerToken(first, home, Date.now());
              }
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            };
          },
        }),
    });
    dbs.push(racing);
    expect(await ensureOwnerToken(racing, home, Date.now())).toBe(secret);
    expect(partnerDone).toBe(true);
  });
});
