import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { registerSession } from "../../functions/sessions/register.ts";
import { useSharedFileDatabase } from "../helpers/shared-file-db.ts";
import { go, spawnWorker } from "../helpers/worker-process.ts";

const WORKER = fileURLToPath(new URL("./patrol-worker.ts", import.meta.url));
const CLAIMANTS = 8;

type Line = { ready?: true; done?: true; won?: boolean; claim_id?: string; error?: string };

const shared = useSharedFileDatabase<Line>("claim-race");

describe("exclusive claim race", () => {
  it(`${CLAIMANTS} processes claiming overlapping paths exclusively at once: exactly one wins, the others learn who holds it`, async () => {
    const { url, database, ctx } = await shared.open();
    const names = Array.from({ length: CLAIMANTS }, (_, i) => `claimant-${i}`);
    for (const name of names) await registerSession(ctx, { name, role: "worker" });
    // The same file, its folder and a glob over it: all overlap.
    const paths = ["src/auth/session.ts", "src/auth/**", "src/auth", "src/auth/session.ts", "src/**/*.ts", "src/auth/session.ts", "src/auth/*", "src"];
    const all = names.map((n, i) => spawnWorker<Line>(WORKER, [url, "claim", paths[i]!, n]));
    shared.procs.push(...all);
    await Promise.all(all.map((p) => p.ready));
    go(all);
    const codes = await Promise.all(all.map((p) => p.exit));
    for (const [i, p] of all.entries()) expect({ i, code: codes[i], stderr: p.stderr.join("") }).toEqual({ i, code: 0, stderr: "" });
    const results = all.map((p) => p.lines.find((l) => l.done)!);
    const winners = results.filter((r) => r.won);
    expect(winners).toHaveLength(1);
    const winner = names[results.findIndex((r) => r.won)]!;
    for (const r of results.filter((x) => !x.won)) expect(r.error).toContain(`exclusively by ${winner} until`);
    const rows = await database.client.execute("SELECT count(*) AS n FROM file_claims WHERE released_at IS NULL");
    expect(rows.rows[0]!.n).toBe(1);
    const audited = await database.client.execute("SELECT count(*) AS n FROM events WHERE kind = 'claim_added'");
    expect(audited.rows[0]!.n).toBe(1);
  }, 60_000);
});
