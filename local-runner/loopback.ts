/**
 * True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. Anything else
 * (a LAN address, 0.0.0.0, ::) puts the API on a network. Shared by `up --host` and the Deno
 * entry's SWITCHYARD_LISTEN, so both refuse the same addresses without an explicit opt-in.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  if (/^::ffff:127\./.test(h)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
