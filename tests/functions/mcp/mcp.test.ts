import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MCP_TOOLS } from "../../../functions/mcp/tools.ts";
import { registerSession } from "../../helpers/factories.ts";
import { serveApp } from "../../helpers/hooks.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
let server: { url: string; close(): Promise<void> };
const clients: Client[] = [];

beforeEach(async () => {
  env = await makeTestEnv();
  server = await serveApp(env);
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await server.close();
  env.close();
});

/** The official SDK client over Streamable HTTP, authenticated with `token`. */
async function connect(token: string | null): Promise<Client> {
  const client = new Client({ name: "switchyard-test", version: "0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
    requestInit: { headers: token ? { Authorization: `Bearer ${token}` } : {} },
  });
  await client.connect(transport);
  clients.push(client);
  return client;
}

const payload = (r: any) => JSON.parse(r.content[0].text);

describe("/mcp", () => {
  it("lists the agent-facing tools with input schemas taken from the routes", async () => {
    const a = await registerSession(env, "worker");
    const client = await connect(a.token);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(MCP_TOOLS.map((t) => t.name).sort());
    const consume = tools.find((t) => t.name === "inbox_consume")!;
    expect(consume.inputSchema.required).toEqual(["name"]);
    expect(Object.keys(consume.inputSchema.properties!)).toEqual(expect.arrayContaining(["name", "wait", "timeout", "interval"]));
    expect(consume.description).toContain("long-poll");
    const advice = tools.find((t) => t.name === "request_advice")!;
    expect(Object.keys(advice.inputSchema.properties!)).not.toContain("msg_type");
    expect(advice.inputSchema.required).toEqual(expect.arrayContaining(["to", "body"]));
  });

  it("consumes an inbox item with the session's own token", async () => {
    const a = await registerSession(env, "worker");
    const sent = await env.call("POST", "/v1/messages", { body: { to: a.session.name, body: "please rebase" } });
    expect(sent.status).toBe(201);
    const client = await connect(a.token);
    const r = await client.callTool({ name: "inbox_consume", arguments: { name: a.session.name } });
    expect(r.isError).toBe(false);
    expect(payload(r).item).toMatchObject({
      target_session: a.session.name,
      signal_type: "message",
      payload: expect.objectContaining({ body: "please rebase" }),
    });
    expect((r.structuredContent as any).item.id).toBe(payload(r).item.id);
    const empty = await client.callTool({ name: "inbox_consume", arguments: { name: a.session.name } });
    expect(payload(empty).item).toBeNull();
  });

  it("waits for an item when asked to (long poll through MCP)", async () => {
    const a = await registerSession(env, "worker");
    const client = await connect(a.token);
    const pending = client.callTool({ name: "inbox_consume", arguments: { name: a.session.name, wait: true, timeout: 20, interval: 0.1 } });
    await new Promise((r) => setTimeout(r, 300));
    await env.call("POST", "/v1/messages", { body: { to: a.session.name, body: "arrived later" } });
    const r = await pending;
    expect(payload(r).item.payload.body).toBe("arrived later");
  });

  it("keeps a session out of another session's inbox, as over HTTP", async () => {
    const a = await registerSession(env, "worker");
    const b = await registerSession(env, "worker");
    await env.call("POST", "/v1/messages", { body: { to: a.session.name, body: "for a only" } });
    const client = await connect(b.token);
    const r = await client.callTool({ name: "inbox_consume", arguments: { name: a.session.name } });
    expect(r.isError).toBe(true);
    expect(payload(r).error.code).toBe("FORBIDDEN");
    const list = await client.callTool({ name: "inbox_list", arguments: { name: a.session.name } });
    expect(list.isError).toBe(true);
    // Still there for its owner.
    const mine = await (await connect(a.token)).callTool({ name: "inbox_consume", arguments: { name: a.session.name } });
    expect(payload(mine).item.payload.body).toBe("for a only");
  });

  it("asks for advice: a request message that lands in the recipient's inbox", async () => {
    const w = await registerSession(env, "worker");
    const m = await registerSession(env, "manager");
    const client = await connect(w.token);
    const r = await client.callTool({ name: "request_advice", arguments: { to: m.session.name, body: "Split the cookie module too?" } });
    expect(r.isError, JSON.stringify(r)).toBe(false);
    expect(payload(r).message).toMatchObject({ msg_type: "request", from_session: w.session.name });
    const got = await (await connect(m.token)).callTool({ name: "inbox_consume", arguments: { name: m.session.name } });
    expect(payload(got).item.payload).toMatchObject({ msg_type: "request", body: "Split the cookie module too?" });
  });

  it("claims a path and proposes a criterion through the supervision and coordination routes", async () => {
    const task = await env.call("POST", "/v1/tasks", { body: { name: "mcp-task", goal: "g" } });
    expect(task.status).toBe(201);
    const w = await registerSession(env, "worker");
    const m = await registerSession(env, "manager");
    expect((await env.call("POST", "/v1/bindings", { body: { task: "mcp-task", worker: w.session.name, manager: m.session.name } })).status).toBe(201);
    const client = await connect(w.token);
    const claim = await client.callTool({ name: "claim_add", arguments: { path: "src/auth/**", session: w.session.name, ttl_seconds: 600, exclusive: true } });
    expect(claim.isError, JSON.stringify(claim)).toBe(false);
    expect(payload(claim).claim).toMatchObject({ path: "src/auth/**", exclusive: true });
    // Not for another session: the route's principal rule holds.
    const theirs = await client.callTool({ name: "claim_add", arguments: { path: "docs/**", session: m.session.name, ttl_seconds: 600 } });
    expect(theirs.isError).toBe(true);
    const list = await (await connect(m.token)).callTool({ name: "criteria_list", arguments: { name: "mcp-task" } });
    expect(list.isError, JSON.stringify(list)).toBe(false);
  });

  it("reports a route's validation error as a tool error with the hint", async () => {
    const a = await registerSession(env, "worker");
    const r = await (await connect(a.token)).callTool({ name: "send_message", arguments: { to: a.session.name } });
    expect(r.isError).toBe(true);
    expect(payload(r).error).toMatchObject({ code: "VALIDATION_FAILED", hint: expect.any(String) });
  });

  it("keeps each tool on its own route: '.', '..', empty and unencodable names are refused, pinned fields stay pinned", async () => {
    // A task named like the route's next segment: `tasks/./criteria/finish` would fold into `tasks/criteria/finish`.
    expect((await env.call("POST", "/v1/tasks", { body: { name: "criteria", goal: "g" } })).status).toBe(201);
    const w = await registerSession(env, "worker");
    const m = await registerSession(env, "manager");
    expect((await env.call("POST", "/v1/bindings", { body: { task: "criteria", worker: w.session.name, manager: m.session.name } })).status).toBe(201);
    const client = await connect(m.token);
    for (const name of [".", "..", "", "\uD800"]) {
      const r = await client.callTool({ name: "criteria_act", arguments: { name, id: "finish", action: "approve" } });
      expect(r.isError, JSON.stringify(name)).toBe(true);
      expect((r.content as any)[0].text).toContain("argument 'name' must be a name");
    }
    expect((await env.call("GET", "/v1/tasks/criteria")).body.task.state).toBe("active");
    const up = await client.callTool({ name: "inbox_list", arguments: { name: ".." } });
    expect((up.content as any)[0].text).toContain("argument 'name' must be a name");
    // request_advice always sends a request, whatever msg_type the caller adds.
    const advice = await (await connect(w.token)).callTool({ name: "request_advice", arguments: { to: m.session.name, body: "ok?", msg_type: "notify" } });
    expect(payload(advice).message.msg_type).toBe("request");
  });

  it("refuses a batch that uses one request id twice, before either request runs", async () => {
    const a = await registerSession(env, "worker");
    for (const body of ["one", "two"]) await env.call("POST", "/v1/messages", { body: { to: a.session.name, body } });
    const call = { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "inbox_consume", arguments: { name: a.session.name } } };
    const res = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: { Authorization: `Bearer ${a.token}`, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
      body: JSON.stringify([call, call]),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ jsonrpc: "2.0", id: null, error: { code: -32600, message: expect.stringContaining("appears twice") } });
    const items = (await env.call("GET", `/v1/sessions/${a.session.name}/inbox`, { token: a.token })).body.items;
    expect(items.map((i: any) => i.payload.body)).toEqual(["one", "two"]);
  });

  it("refuses no token (401) and a hook token (403)", async () => {
    await expect(connect(null)).rejects.toThrow(/UNAUTHENTICATED/);
    const hook = await env.mint("hook", "test-host");
    await expect(connect(hook)).rejects.toThrow(/FORBIDDEN.*hook token/);
  });
});
