import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

let lastMs = -1;
let lastRand: number[] = [];

/** Adds one to a base-32 digit string, so ids made in the same millisecond keep their order. */
function increment(digits: number[]): number[] {
  const out = [...digits];
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 31) {
      out[i]! += 1;
      return out;
    }
    out[i] = 0;
  }
  return out;
}

/** The 10-character base-32 time prefix of the ids made at `ms`. */
function timePart(ms: number): string {
  let time = "";
  let t = Math.floor(ms);
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time;
}

/** The smallest id `makeId(prefix, ms)` can return: a keyset bound for "rows created since `ms`". */
export function idFloor(prefix: string, ms: number): string {
  return `${prefix}_${timePart(ms)}`;
}

/**
 * Makes a prefixed id that sorts by creation time: `ses_` + 10 chars of ms time + 12 random chars.
 * Within one millisecond the random part counts up, so ids from one process sort in creation
 * order (list and audit queries break createdAt ties by id). Crockford-style lowercase base32
 * keeps ids URL- and shell-safe.
 */
export function makeId(prefix: string, nowMs: number): string {
  const ms = Math.floor(nowMs);
  const time = timePart(ms);
  const rand = ms === lastMs ? increment(lastRand) : [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b % 32);
  lastMs = ms;
  lastRand = rand;
  return `${prefix}_${time}${rand.map((d) => ALPHABET[d]).join("")}`;
}

/** A random bearer secret with a readable kind prefix, e.g. `sy_owner_…`. */
export function makeSecret(kind: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return `sy_${kind}_${hex}`;
}

/** Hex SHA-256 of a string, via Web Crypto so it runs on Node, Deno and edge runtimes. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  let hex = "";
  for (const b of new Uint8Array(digest)) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/**
 * Hex SHA-256 of a short string (a bearer secret), computed in the calling thread. Web Crypto's
 * digest is asynchronous: every request's token lookup then waited a thread-pool round trip
 * (a context switch on a busy machine) for a hash of ~60 bytes. @noble/hashes is audited,
 * dependency-free and runs on every runtime Web Crypto does; long inputs keep using sha256Hex,
 * which does not hold the event loop.
 */
export function sha256HexSync(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}
