// What the in-process fast path (fast-local.ts) is given for "@libsql/client" when it is bundled
// (bin/build-cli.mjs). The fast path reads the home's database file through the libsql binding
// (functions/lib/statement-cache.ts) and never opens a client, but modules it shares with the app
// (functions/lib/db.ts, through the route definitions) import the client at load time, and with
// it the Hrana protocol, `ws`, node:https and TLS: a sixth of an in-process read. If a client
// were ever asked for, this says why it failed and the full CLI runs instead.
export { LibsqlError } from "@libsql/core/api";

/** Refuses: the in-process fast path opens no @libsql/client. */
export function createClient(): never {
  throw new Error("no @libsql/client in the CLI's in-process fast path");
}
