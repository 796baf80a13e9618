import { readOwnerTokenFile, replaceOwnerTokenFile, resolveHome } from "../home.ts";
import { parseDuration } from "./coordination-commands.ts";
import { EXIT_OK, flag, HintedError, pos, str, UsageError, type Args, type CommandSpec, type GlobalOptions } from "./spec.ts";
import type { ApiRequest, ApiResponse, Transport } from "./transport.ts";

/**
 * How long the owner file's old token stays live while the file is rewritten: if the write
 * fails, the old token still works and undoes the rotation; if it succeeds with no grace asked
 * for, the old token is revoked right after.
 */
// The server refuses less for the calling token (SELF_ROTATE_MIN_GRACE_SECONDS in functions/admin/schema.ts).
export const OWNER_FILE_SAFETY_SECONDS = 60;

const enc = encodeURIComponent;

/** The API's error as one the CLI prints (`error: CODE: message` and the hint). */
function apiFailure(res: ApiResponse): HintedError {
  const e = res.body?.error ?? { code: "INTERNAL", message: `HTTP ${res.status}` };
  return new HintedError(`${e.code}: ${e.message}`, e.hint ?? "");
}

/** Sends one request and returns its body, or throws the API's error. */
async function call(t: Transport, req: ApiRequest, expect: number): Promise<any> {
  const res = await t.send(req);
  if (res.status !== expect) throw apiFailure(res);
  return res.body;
}

function print(g: GlobalOptions, body: unknown, lines: string[]): void {
  process.stdout.write(`${g.json ? JSON.stringify(body, null, 2) : lines.join("\n")}\n`);
}

/**
 * Two transports to the same server, one per bearer secret (the old owner token and its
 * replacement); in-process they share one database connection, closed once.
 */
async function transportsFor(g: GlobalOptions, home: ReturnType<typeof resolveHome>) {
  const { HttpTransport } = await import("./transport.ts");
  if (g.url) return { as: (secret: string): Transport => new HttpTransport(g.url!, secret), close: async () => {} };
  // Loaded only here: the in-process transport brings the whole app with it.
  const { InProcessTransport } = await import("./in-process-transport.ts");
  const { openLocalServices } = await import("../services.ts");
  const services = await openLocalServices({ home });
  return { as: (secret: string): Transport => new InProcessTransport(services, secret), close: async () => services.database.close() };
}

/**
 * Rotates the token in `<home>/owner.token`: the replacement is minted while the old token stays
 * live for at least OWNER_FILE_SAFETY_SECONDS, written over the file atomically, and only then
 * is the old token revoked (at once, or when the asked-for grace ends). A failed write revokes
 * the replacement instead, so the file and the database never disagree.
 */
async function rotateOwnerFile(g: GlobalOptions, graceSeconds: number): Promise<number> {
  if (!g.home) throw new HintedError("--owner-file needs a home", "Run it where the home is, or pass --home DIR.");
  const home = resolveHome(process.env, { home: g.home });
  const old = readOwnerTokenFile(home);
  if (!old) throw new HintedError(`${home.ownerTokenFile} is missing or empty`, "There is no owner token file to rotate; `switchyard init` creates one.");
  const t = await transportsFor(g, home);
  try {
    const asOld = t.as(old);
    const rotated = await call(
      asOld,
      { method: "POST", path: "/tokens/self/rotate", body: { grace_seconds: Math.max(graceSeconds, OWNER_FILE_SAFETY_SECONDS) } },
      201,
    );
    try {
      replaceOwnerTokenFile(home, rotated.token);
    } catch (e) {
      await call(asOld, { method: "POST", path: `/tokens/${enc(rotated.token_id)}/revoke` }, 200);
      throw new HintedError(
        `could not write ${home.ownerTokenFile}: ${(e as Error).message}; the rotation was undone (the new token is revoked, the old one still works)`,
        "Check the permissions and free space of the home directory, then run the rotation again.",
      );
    }
    let revokedAt: string = rotated.replaced.revoked_at;
    if (graceSeconds === 0) {
      revokedAt = (await call(t.as(rotated.token), { method: "POST", path: `/tokens/${enc(rotated.replaced.token_id)}/revoke` }, 200)).revoked_at;
    }
    const body = { ...rotated, token: null, owner_token_file: home.ownerTokenFile, replaced: { ...rotated.replaced, revoked_at: revokedAt } };
    print(g, body, [
      `rotated the owner token in ${home.ownerTokenFile}: ${rotated.replaced.token_id} -> ${rotated.token_id}`,
      graceSeconds === 0 ? `old token revoked at ${revokedAt}` : `old token works until ${revokedAt}`,
      "The new secret is in the file (not printed); clients that copied the old one need the new one.",
    ]);
    return EXIT_OK;
  } finally {
    await t.close();
  }
}

async function rotate(a: Args, g: GlobalOptions): Promise<number> {
  const id = pos(a, 0);
  const ownerFile = flag(a, "owner-file");
  if (ownerFile === (id !== undefined)) throw new UsageError("give a TOKEN_ID or --owner-file, not both and not neither");
  const graceText = str(a, "grace");
  const grace = graceText === undefined ? 0 : parseDuration(graceText, "grace");
  if (ownerFile) return rotateOwnerFile(g, grace);
  // The token this command would use is the home's owner.token: rotating it without rewriting the
  // file leaves the home with a token that stops working when the grace ends.
  const home = g.home ? resolveHome(process.env, { home: g.home }) : null;
  const fileToken = home ? readOwnerTokenFile(home) : null;
  if (id === "self" && fileToken && (g.token ?? fileToken) === fileToken) {
    throw new HintedError(
      `refusing to rotate the token in ${home!.ownerTokenFile} without rewriting that file: every command of this home would fail once the grace ends`,
      "Run `switchyard token rotate --owner-file`, which writes the new secret there.",
    );
  }
  const { openTransport } = await import("./connect.ts");
  const t = await openTransport(g);
  try {
    const b = await call(t, { method: "POST", path: `/tokens/${enc(id!)}/rotate`, body: { grace_seconds: grace } }, 201);
    print(g, b, [
      `rotated ${b.info.kind} token ${b.replaced.token_id} -> ${b.token_id}${b.info.host ? ` (host ${b.info.host})` : ""}`,
      b.token === null ? "token: withheld (this is a replay; a secret is shown only once)" : `token: ${b.token}   (shown once)`,
      `${grace === 0 ? "old token revoked at" : "old token works until"} ${b.replaced.revoked_at}`,
    ]);
    return EXIT_OK;
  } finally {
    await t.close();
  }
}

/** Token commands that are more than one API call. */
export const TOKEN_COMMANDS: CommandSpec[] = [
  {
    name: "token rotate",
    group: "setup",
    summary: "Replace a token with a new one (same kind, host, label) and revoke the old one, at once or after --grace",
    positionals: [{ name: "TOKEN_ID", required: false, description: "Token id (tok_...), or `self` for the token this command uses" }],
    options: {
      grace: { type: "string", value: "DURATION", description: "Keep the old token working this long (30s, 10m, 2h, 1d) so its users can switch" },
      "owner-file": {
        type: "boolean",
        description: `Rotate the token in <home>/owner.token and rewrite the file atomically (the old token lives at least ${OWNER_FILE_SAFETY_SECONDS}s until the file is written)`,
      },
    },
    examples: ["switchyard token rotate tok_01h... --grace 10m", "switchyard token rotate --owner-file"],
    local: rotate,
  },
];
