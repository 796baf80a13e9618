// `switchyard up` cuts connections that never finish sending a request, and caps how many are
// open: a client dribbling headers or a body cannot hold a connection (and a request's memory)
// for minutes. Real server, real sockets; the limits are lowered for the test.
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startUp, type Running } from "../../local-runner/up.ts";
import { SERVER_LIMITS } from "../../local-runner/server-limits.ts";
import { makeTestEnv, type TestEnv } from "../helpers/services.ts";

let env: TestEnv | undefined;
let up: Running | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  if (up) await up.stop();
  else env?.services.database.close();
  up = env = undefined;
});

async function serve(limits: Partial<typeof SERVER_LIMITS>) {
  env = await makeTestEnv();
  up = await startUp(env.services, { port: 0, hostname: "127.0.0.1", schedules: [], limits });
  return new URL(up.url);
}

/** Opens a socket and resolves once it is connected; `closed` settles with what the server sent. */
async function open(url: URL) {
  const socket = connect(Number(url.port), url.hostname);
  sockets.push(socket);
  let received = "";
  socket.on("data", (d) => (received += String(d)));
  socket.on("error", () => {});
  const closed = new Promise<{ received: string; at: number }>((resolve) => socket.once("close", () => resolve({ received, at: performance.now() })));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, closed };
}

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<"still open">((r) => setTimeout(() => r("still open"), ms))]);

describe("switchyard up connection limits", () => {
  it("has sane defaults", () => {
    expect(SERVER_LIMITS.headersTimeoutMs).toBeLessThanOrEqual(SERVER_LIMITS.requestTimeoutMs);
    expect(SERVER_LIMITS.requestTimeoutMs).toBeLessThanOrEqual(60_000);
    expect(SERVER_LIMITS.maxConnections).toBeGreaterThan(500);
  });

  it("cuts a client that sends a body one byte at a time, and one that never finishes its headers", async () => {
    const url = await serve({ headersTimeoutMs: 500, requestTimeoutMs: 1500, checkIntervalMs: 100 });
    const slowBody = await open(url);
    const t0 = performance.now();
    slowBody.socket.write(
      `POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${env!.owner}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{`,
    );
    const drip = setInterval(() => slowBody.socket.writable && slowBody.socket.write(" "), 200);
    const slowHeaders = await open(url);
    slowHeaders.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    try {
      // Sending the whole body would take 40 s; the request timeout ends it after about 1.5 s.
      const body = await within(slowBody.closed, 10_000);
      expect(body).not.toBe("still open");
      expect((body as { received: string }).received).toMatch(/^HTTP\/1\.1 408/);
      expect((body as { at: number }).at - t0).toBeLessThan(8_000);
      const headers = await within(slowHeaders.closed, 10_000);
      expect(headers).not.toBe("still open");
      expect((headers as { received: string }).received).toMatch(/^HTTP\/1\.1 408|^$/);
    } finally {
      clearInterval(drip);
    }
    // Nothing was created from the half-sent request, and the server still answers others.
    expect((await env!.call("GET", "/v1/tasks")).body.count).toBe(0);
    expect((await fetch(`${up!.url}/healthz`)).status).toBe(200);
  });

  it("refuses connections beyond the cap and takes new ones once others close", async () => {
    const url = await serve({ maxConnections: 3, headersTimeoutMs: 20_000, requestTimeoutMs: 20_000 });
    const held = [await open(url), await open(url), await open(url)];
    const extra = await open(url);
    // The server drops the connection over the cap at once.
    expect(await within(extra.closed, 5_000)).not.toBe("still open");
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    expect((await fetch(`${up!.url}/healthz`)).status).toBe(200);
  });
});
