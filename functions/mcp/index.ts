import type { OpenAPIHono } from "@hono/zod-openapi";
import { Server } from "@modelcontextprotocol/sdk/server";
// Deno's type checker does not read the SDK's typesVersions (Node's does): point it at the types.
// @ts-types="../../node_modules/@modelcontextprotocol/sdk/dist/esm/server/webStandardStreamableHttp.d.ts"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="../../node_modules/@modelcontextprotocol/sdk/dist/esm/types.d.ts"
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult, type Tool } from "@modelcontextprotocol/sdk/types.js";
import type { AppEnv } from "../lib/env.ts";
import { ApiError } from "../lib/errors.ts";
import { queryText } from "../lib/query-text.ts";
import { MCP_TOOLS, type McpToolSpec } from "./tools.ts";

type Json = Record<string, any>;

/** A tool with what a call needs: where its arguments go. */
interface BuiltTool {
  spec: McpToolSpec;
  tool: Tool;
  method: string;
  path: string;
  pathParams: string[];
  queryParams: string[];
}

/** Inlines `$ref`s to components, so each tool's input schema stands on its own. */
function inline(schema: unknown, components: Json, depth = 0): unknown {
  if (depth > 20 || !schema || typeof schema !== "object") return schema;
  if (Array.isArray(schema)) return schema.map((s) => inline(s, components, depth + 1));
  const s = schema as Json;
  if (typeof s.$ref === "string") return inline(components[s.$ref.replace("#/components/schemas/", "")], components, depth + 1);
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) out[k] = inline(v, components, depth + 1);
  return out;
}

/**
 * Builds the tools from the app's own OpenAPI document: each tool's input schema is the route's
 * path and query parameters and JSON body, its description the route's summary and description.
 */
function buildTools(doc: Json): BuiltTool[] {
  const components = doc.components?.schemas ?? {};
  return MCP_TOOLS.map((spec) => {
    const path = `/v1${spec.route.path}`.replace(/:(\w+)/g, "{$1}");
    const op = doc.paths?.[path]?.[spec.route.method];
    if (!op) throw new Error(`MCP tool ${spec.name}: no ${spec.route.method} ${path} in the OpenAPI document`);
    const properties: Json = {};
    const required: string[] = [];
    const pathParams: string[] = [];
    const queryParams: string[] = [];
    for (const p of op.parameters ?? []) {
      properties[p.name] = { ...(inline(p.schema, components) as Json), ...(p.description ? { description: p.description } : {}) };
      if (p.required) required.push(p.name);
      (p.in === "path" ? pathParams : queryParams).push(p.name);
    }
    const body = inline(op.requestBody?.content?.["application/json"]?.schema, components) as Json | undefined;
    for (const [k, v] of Object.entries<Json>(body?.properties ?? {})) {
      if (spec.fixed && k in spec.fixed) continue;
      properties[k] = v;
    }
    for (const k of body?.required ?? []) if (!(spec.fixed && k in spec.fixed) && op.requestBody?.required !== false) required.push(k);
    const description = [spec.lead, op.summary, op.description].filter(Boolean).join(" ");
    return {
      spec,
      method: spec.route.method.toUpperCase(),
      path,
      pathParams,
      queryParams,
      tool: {
        name: spec.name,
        description,
        inputSchema: { type: "object", properties, ...(required.length ? { required: [...new Set(required)] } : {}) },
        annotations: { readOnlyHint: spec.route.method === "get" },
      },
    };
  });
}

/** A tool call refused before it reaches any route. */
const refused = (text: string): CallToolResult => ({ isError: true, content: [{ type: "text", text }] });

/**
 * One path segment for a name, or null when it cannot be one. The URL parser folds `.` and `..`
 * segments into the path around them, which would send a tool's call to another route (a task
 * named `.` turning `tasks/{name}/criteria/{id}` into `tasks/…/finish`); an empty name leaves a
 * `//`; a lone surrogate cannot be encoded at all.
 */
function pathSegment(value: string): string | null {
  if (value === "" || value === "." || value === "..") return null;
  try {
    return encodeURIComponent(value);
  } catch {
    return null;
  }
}

/** Calls the route behind a tool through the app itself, as the caller. */
async function callTool(app: OpenAPIHono<AppEnv>, authorization: string, t: BuiltTool, args: Json): Promise<CallToolResult> {
  let url = t.path;
  const query = new URLSearchParams();
  const body: Json = {};
  for (const [k, v] of Object.entries(args ?? {})) {
    if (v === undefined || v === null) continue;
    if (t.pathParams.includes(k)) {
      const segment = pathSegment(String(v));
      if (segment === null) return refused(`argument '${k}' must be a name: not empty, not '.' or '..', and valid Unicode`);
      url = url.replace(`{${k}}`, segment);
    } else if (t.queryParams.includes(k)) for (const item of Array.isArray(v) ? v : [v]) query.append(k, queryText(item));
    else body[k] = v;
  }
  // Pinned fields win over the caller's: request_advice always sends a request.
  Object.assign(body, t.spec.fixed ?? {});
  const missing = t.pathParams.filter((p) => url.includes(`{${p}}`));
  if (missing.length) return refused(`missing argument(s): ${missing.join(", ")}`);
  const q = query.toString();
  const hasBody = t.method !== "GET";
  const res = await app.request(`${url}${q ? `?${q}` : ""}`, {
    method: t.method,
    headers: { Authorization: authorization, ...(hasBody ? { "Content-Type": "application/json" } : {}) },
    body: hasBody ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { text };
  }
  const ok = res.status >= 200 && res.status < 300;
  return {
    isError: !ok,
    content: [{ type: "text", text: JSON.stringify(parsed, null, 2) }],
    ...(ok && parsed && typeof parsed === "object" && !Array.isArray(parsed) ? { structuredContent: parsed as Json } : {}),
  };
}

/** The SDK's server for one request, answering tools/list and tools/call. */
function mcpServer(app: OpenAPIHono<AppEnv>, tools: BuiltTool[], authorization: string, version: string): Server {
  const server = new Server({ name: "switchyard", version }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: tools.map((t) => t.tool) }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const t = tools.find((x) => x.tool.name === req.params.name);
    if (!t) return { isError: true, content: [{ type: "text", text: `unknown tool '${req.params.name}'; tools/list names them` }] };
    return callTool(app, authorization, t, (req.params.arguments ?? {}) as Json);
  });
  return server;
}

/**
 * The first request id a JSON-RPC batch uses twice, or null. Both requests would run (two inbox
 * consumes take two items) but only one answer could come back under that id, so the other
 * item would be consumed for nobody: such a batch is refused before anything runs.
 */
function repeatedRequestId(body: unknown): string | number | null {
  if (!Array.isArray(body)) return null;
  const seen = new Set<string | number>();
  for (const m of body) {
    if (!m || typeof m !== "object" || !("method" in m) || !("id" in m)) continue;
    const id = (m as { id: unknown }).id;
    if (typeof id !== "string" && typeof id !== "number") continue;
    if (seen.has(id)) return id;
    seen.add(id);
  }
  return null;
}

/**
 * Serves MCP (Streamable HTTP, stateless: every POST is a whole exchange) at /mcp with the
 * official TypeScript SDK. The caller authenticates with its own bearer token (a session's,
 * usually); each tool call goes through the app with that token, so an MCP client can do
 * exactly what the same token can do over HTTP, and nothing more. Hook tokens are refused.
 */
export function mountMcp(app: OpenAPIHono<AppEnv>, opts: { version: string; documentInfo: { title: string; version: string } }): void {
  let tools: BuiltTool[] | null = null;
  app.all("/mcp", async (c) => {
    const auth = c.get("ctx").auth;
    if (auth.kind === "anonymous") {
      throw new ApiError("UNAUTHENTICATED", "MCP needs a bearer token", {
        hint: "Send 'Authorization: Bearer <your session token>' (SWITCHYARD_TOKEN in a spawned agent).",
      });
    }
    if (auth.kind === "hook") throw new ApiError("FORBIDDEN", "a hook token may only post hook events", { hint: "Use the session's own token for MCP." });
    tools ??= buildTools(app.getOpenAPI31Document({ openapi: "3.1.0", info: opts.documentInfo }) as Json);
    let parsedBody: unknown;
    if (c.req.method === "POST") {
      // Unparseable bodies are left to the SDK, which answers them as JSON-RPC parse errors; a
      // body over the app's limit (counted as it is read) is refused as on every other route.
      parsedBody = await c.req.raw
        .clone()
        .json()
        .catch((e: unknown) => {
          if (e instanceof ApiError) throw e;
          return undefined;
        });
      const twice = repeatedRequestId(parsedBody);
      if (twice !== null) {
        return c.json(
          {
            jsonrpc: "2.0",
            id: null,
            error: { code: -32600, message: `request id ${JSON.stringify(twice)} appears twice in this batch: give each request its own id` },
          },
          400,
        );
      }
    }
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    const server = mcpServer(app, tools, c.req.header("Authorization")!, opts.version);
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw, parsedBody === undefined ? undefined : { parsedBody });
    } finally {
      await server.close();
    }
  });
}
