// Options whose value is an enum declare their choices (OptionSpec.choices). A value outside them
// is a usage error (exit 2) that names the option, the value and the choices, raised before
// anything is sent or written, by the full CLI and by the fast paths (which leave such a line to
// the full CLI, so the message is the same). Help shows the choices. And every list that fills
// in a request field is that field's enum in the app's OpenAPI document, so the two cannot drift.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAST_COMMANDS, runFast } from "../../../local-runner/cli/fast.ts";
import { runLocal } from "../../../local-runner/cli/fast-local.ts";
import { ALL_COMMANDS, EXIT_OK, EXIT_USAGE, runCli } from "../../../local-runner/cli/main.ts";
import { UsageError, type Args, type CommandSpec, type OptionSpec } from "../../../local-runner/cli/spec.ts";
import type { ApiRequest } from "../../../local-runner/cli/transport.ts";
import { cliSandbox } from "../../helpers/cli.ts";
import { operationsOf, resolveSchema, type Operation, type Schema } from "../../helpers/openapi.ts";
import { makeTestEnv } from "../../helpers/services.ts";

const sb = cliSandbox("choices");
const cli = sb.cli;

function specOf(command: string): CommandSpec {
  const spec = ALL_COMMANDS.find((s) => s.name === command);
  if (!spec) throw new Error(`no command ${command}`);
  return spec;
}

function choicesOf(command: string, option: string): readonly string[] {
  const choices = specOf(command).options?.[option]?.choices;
  if (!choices) throw new Error(`${command} --${option} has no choices`);
  return choices;
}

/** What the CLI prints on stderr for a value outside an option's choices. */
function refusal(command: string, option: string, value: string): string {
  return `error: --${option} must be one of: ${choicesOf(command, option).join(", ")}; got '${value}'\nhint: run 'switchyard ${command} --help'`;
}

/** Every option that declares choices, with its command. */
const WITH_CHOICES: Array<{ spec: CommandSpec; name: string; option: OptionSpec & { choices: readonly string[] } }> = ALL_COMMANDS.flatMap((spec) =>
  Object.entries(spec.options ?? {}).flatMap(([name, option]) => (option.choices ? [{ spec, name, option: { ...option, choices: option.choices } }] : [])),
);

// A listener standing where a server would be: whatever reaches it was sent.
let listener: Server;
let listenerUrl = "";
const received: string[] = [];
beforeAll(async () => {
  listener = createServer((req: IncomingMessage, res) => {
    received.push(`${req.method} ${req.url}`);
    res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "UNAUTHENTICATED", message: "recorded" } }));
  });
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
  listenerUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => listener.close(() => resolve())));

/** Command lines with one value outside an option's choices: the command, the option and the bad value. */
const BAD: Array<{ argv: string[]; command: string; option: string; value: string }> = [
  { argv: ["sessions", "--state", "nonsense"], command: "sessions", option: "state", value: "nonsense" },
  { argv: ["send", "m1", "hello", "--type", "note"], command: "send", option: "type", value: "note" },
  { argv: ["messages", "--type", "question"], command: "messages", option: "type", value: "question" },
  { argv: ["commands", "--state", "done"], command: "commands", option: "state", value: "done" },
  { argv: ["replay", "t1", "--format", "json"], command: "replay", option: "format", value: "json" },
  { argv: ["gate", "create", "--type", "sometime", "--title", "x"], command: "gate create", option: "type", value: "sometime" },
  { argv: ["broker", "run-create", "--mode", "fast", "--objective", "x"], command: "broker run-create", option: "mode", value: "fast" },
  // A repeatable option: every value is checked, and the bad one is named.
  {
    argv: ["broker", "run-create", "--mode", "supervised", "--objective", "x", "--stop-condition", "missing_approval", "--stop-condition", "never"],
    command: "broker run-create",
    option: "stop-condition",
    value: "never",
  },
];

describe("a value outside an option's choices", () => {
  it("is a usage error naming the option, the value and the choices, and nothing reaches the server", async () => {
    expect(refusal("sessions", "state", "nonsense")).toBe(
      "error: --state must be one of: active, gone, all; got 'nonsense'\nhint: run 'switchyard sessions --help'",
    );
    for (const bad of BAD) {
      const res = await cli(...bad.argv, "--url", listenerUrl, "--token", "sy_owner_x");
      expect(res, bad.argv.join(" ")).toEqual({ code: EXIT_USAGE, out: "", err: refusal(bad.command, bad.option, bad.value) });
    }
    expect(received).toEqual([]);
    // The same command line with a value among the choices is sent: the listener would have seen the calls above.
    expect((await cli("sessions", "--state", "all", "--url", listenerUrl, "--token", "sy_owner_x")).err).toContain("UNAUTHENTICATED");
    expect(received).toEqual(["GET /v1/sessions?state=all"]);
    received.length = 0;
  });

  it("in-process, writes nothing to the database, for API commands and local ones", async () => {
    expect((await cli("register-worker", "--name", "w1")).code).toBe(EXIT_OK);
    expect((await cli("register-manager", "--name", "m1")).code).toBe(EXIT_OK);
    const messages = async () => JSON.parse((await cli("messages", "--json")).out).count;
    const gates = async () => JSON.parse((await cli("gate", "list", "--state", "all", "--json")).out).count;

    expect(await cli("send", "m1", "hello", "--type", "note", "--from", "w1")).toMatchObject({ code: EXIT_USAGE, err: refusal("send", "type", "note") });
    expect(await cli("gate", "create", "--type", "sometime", "--title", "x")).toMatchObject({
      code: EXIT_USAGE,
      err: refusal("gate create", "type", "sometime"),
    });
    expect(await cli("tasks", "--create", "t1", "--state", "bogus")).toMatchObject({ code: EXIT_USAGE, err: refusal("tasks", "state", "bogus") });
    expect(await cli("dispatch", "--once", "--type", "nudge", "--type", "bogus")).toMatchObject({
      code: EXIT_USAGE,
      err: refusal("dispatch", "type", "bogus"),
    });
    expect([await messages(), await gates(), (await cli("task", "show", "t1")).code]).toEqual([0, 0, 1]);

    // With values among the choices the same commands write: the counts above could have moved.
    expect((await cli("send", "m1", "hello", "--type", "ping", "--from", "w1")).code).toBe(EXIT_OK);
    expect((await cli("gate", "create", "--type", "human", "--title", "x")).code).toBe(EXIT_OK);
    expect([await messages(), await gates()]).toEqual([1, 1]);
  });

  it("is refused before the home is looked for", async () => {
    const err: string[] = [];
    const code = await runCli(["sessions", "--state", "nonsense", "--home", join(sb.home, "missing")], { out: () => {}, err: (t) => err.push(t) });
    expect({ code, err: err.join("\n") }).toEqual({ code: EXIT_USAGE, err: refusal("sessions", "state", "nonsense") });
  });
});

describe("the fast paths", () => {
  /** The read commands the fast paths answer, once per option with choices, with a value outside them. */
  const fastBad = WITH_CHOICES.filter(({ spec }) => (FAST_COMMANDS as readonly string[]).includes(spec.name)).map(({ spec, name }) => ({
    spec,
    name,
    argv: [...spec.name.split(" "), ...(spec.positionals ?? []).filter((p) => p.required).map(() => "x"), `--${name}`, "nonsense"],
  }));

  it("cover read commands with choices (sessions, tasks, bindings, messages)", () => {
    expect(new Set(fastBad.map((b) => b.spec.name))).toEqual(new Set(["sessions", "tasks", "bindings", "messages"]));
  });

  it("leave such a line to the full CLI, which refuses it alike whether it parses the line itself or through commander", async () => {
    // A home with a database and an owner token, where the in-process fast path answers a good value.
    expect((await cli("register-worker", "--name", "w1")).code).toBe(EXIT_OK);
    const io = () => {
      const out: string[] = [];
      const err: string[] = [];
      return { out, err, io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) } };
    };
    const good = io();
    expect(await runLocal(["sessions", "--state", "all", "--home", sb.home], { io: good.io })).toBe(EXIT_OK);
    expect(good.out.join("\n")).toContain("w1");

    for (const { spec, name, argv } of fastBad) {
      const over = io();
      expect(await runFast([...argv, "--url", listenerUrl, "--token", "sy_owner_x"], { io: over.io }), argv.join(" ")).toBeNull();
      const local = io();
      expect(await runLocal([...argv, "--home", sb.home], { io: local.io }), argv.join(" ")).toBeNull();
      expect([...over.out, ...over.err, ...local.out, ...local.err]).toEqual([]);

      const plain = io();
      const viaCommander = io();
      const code = await runCli([...argv, "--home", sb.home], plain.io);
      const commanderCode = await runCli([...argv, "--home", sb.home], viaCommander.io, { commanderOnly: true });
      expect({ code, out: plain.out, err: plain.err }).toEqual({ code: commanderCode, out: viaCommander.out, err: viaCommander.err });
      expect({ code, err: plain.err.join("\n") }).toEqual({ code: EXIT_USAGE, err: refusal(spec.name, name, "nonsense") });
    }
    expect(received).toEqual([]);
  });
});

describe("help", () => {
  it("shows every option's choices: as its value placeholder, or listed after its description", async () => {
    for (const { spec, name, option } of WITH_CHOICES) {
      const help = (await cli(...spec.name.split(" "), "--help")).out;
      const inline = `--${name} <${option.choices.join("|")}>`;
      const listed = `--${name} <${option.value ?? "VALUE"}>`;
      if (help.includes(inline)) continue;
      expect(help, `${spec.name} --${name}`).toContain(listed);
      expect(help, `${spec.name} --${name}`).toContain(`(one of: ${option.choices.join(", ")})`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The choices against the OpenAPI document.

/**
 * Options to set for a command's request to be built the way that puts the option under test in
 * it (beyond what the test fills in itself: positionals, and `1` for each option the request says
 * is required).
 */
const BASE: Record<string, Args["values"]> = {
  "orchestrator watch": { once: true },
  "criteria --source": { add: true, criterion: "c" },
  "continuation --submit": { "correlation-id": "c", "payload-json": "{}" },
};

/** Options with choices whose value the request does not carry as is. */
const NOT_SENT_AS_IS: Record<string, string> = {
  "hooks settings --reprime": "on|off becomes the boolean reprime_on_reset",
};

/** Options of local commands (no `request`) whose value they send to the API, and the field it fills in. */
const LOCAL_FIELDS: Record<string, { method: string; path: string; field: string }> = {
  "pair --agent": { method: "POST", path: "/v1/pairs", field: "body agent" },
  "pair --manager-agent": { method: "POST", path: "/v1/pairs", field: "body manager_agent" },
  "pair --sandbox": { method: "POST", path: "/v1/pairs", field: "body sandbox" },
  "pair --ask-for-approval": { method: "POST", path: "/v1/pairs", field: "body ask_for_approval" },
  "pair --manager-mode": { method: "POST", path: "/v1/pairs", field: "body manager_config.mode" },
  "pair --manager-epilogue": { method: "POST", path: "/v1/pairs", field: "body manager_config.epilogues" },
  "epilogue --step": { method: "POST", path: "/v1/tasks/{name}/epilogues/{step}", field: "path step" },
  "patrol run --step": { method: "POST", path: "/v1/patrol/runs", field: "body step" },
};

/** Options of local commands whose value never reaches the API: what the list is of instead. */
const LOCAL_ONLY: Record<string, string> = {
  "dispatch --type": "the dispatcher's filter: command types, plus worker_task_complete for completion routing",
  "broker daemon --platform": "the service manager",
  "broker daemon-config --platform": "the service manager",
  "broker daemon-install --platform": "the service manager",
  "service install --platform": "the service manager",
  "service uninstall --platform": "the service manager",
  "hooks install --agent": "whose settings file is edited",
  "hooks install --scope": "which settings file",
  "hooks uninstall --agent": "whose settings file is edited",
  "hooks uninstall --scope": "which settings file",
  "hooks status --agent": "whose settings file is read",
  "mcp install --agent": "whose CLI registers the endpoint",
  "mcp install --scope": "Claude's config scope",
  "mcp uninstall --agent": "whose CLI removes the endpoint",
  "mcp uninstall --scope": "Claude's config scope",
  "install-skills --agent": "whose skills folder",
};

/** The allowed values of a schema: its enum, its items' enum, or the enums of its non-null variants. */
function enumOf(doc: any, raw: Schema | undefined): string[] | null {
  const s = raw && resolveSchema(doc, raw);
  if (!s) return null;
  if (s.enum) return s.enum;
  if (s.type === "array" && s.items) return enumOf(doc, s.items);
  const variants = (s.anyOf ?? s.oneOf ?? []).map((v: Schema) => enumOf(doc, v)).filter(Boolean);
  return variants.length ? variants.flat() : null;
}

/** A property of an object schema, looking into allOf/anyOf/oneOf variants. */
function propertyOf(doc: any, raw: Schema | undefined, name: string): Schema | undefined {
  const s = raw && resolveSchema(doc, raw);
  if (!s) return undefined;
  for (const c of [s, ...(s.allOf ?? []), ...(s.anyOf ?? []), ...(s.oneOf ?? [])].map((v: Schema) => resolveSchema(doc, v))) {
    if (c?.properties?.[name]) return c.properties[name];
  }
  return undefined;
}

/** The enum of one field of an operation: `query NAME`, `path NAME` or `body A.B`. */
function fieldEnum(doc: any, op: Operation, field: string): string[] | null {
  const [where, name] = field.split(" ") as [string, string];
  if (where === "body")
    return enumOf(
      doc,
      name.split(".").reduce<Schema | undefined>((s, part) => propertyOf(doc, s, part), op.body),
    );
  return enumOf(doc, op.params.find((p) => p.in === where && p.name === name)?.schema);
}

/** The documented operation a built request goes to, with its path parameters as the router decodes them. */
function operationFor(doc: any, req: ApiRequest): { op: Operation; params: Record<string, string> } | null {
  for (const op of operationsOf(doc)) {
    if (op.method !== req.method) continue;
    const names: string[] = [];
    const pattern = op.path.replace(/\{([^}]+)\}/g, (_, n: string) => {
      names.push(n);
      return "([^/]+)";
    });
    const m = new RegExp(`^${pattern}$`).exec(`/v1${req.path}`);
    if (m) return { op, params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)])) };
  }
  return null;
}

/** The fields of the request that carry `value` (as a value, or in a list): `query NAME`, `path NAME`, `body A.B`. */
function fieldsHolding(req: ApiRequest, params: Record<string, string>, value: string): string[] {
  const found: string[] = [];
  const holds = (v: unknown) => v === value || (Array.isArray(v) && v.includes(value));
  for (const [k, v] of Object.entries(req.query ?? {})) if (holds(v)) found.push(`query ${k}`);
  for (const [k, v] of Object.entries(params)) if (v === value) found.push(`path ${k}`);
  const walk = (v: unknown, at: string[]) => {
    if (holds(v)) found.push(`body ${at.join(".")}`);
    else if (v && typeof v === "object" && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
  };
  walk(req.body, []);
  return found;
}

/** The request a command builds with `name` set to `value`: positionals filled in, and `1` for each option it says is required. */
function requestWith(spec: CommandSpec, name: string, option: OptionSpec, value: string): ApiRequest {
  const values: Args["values"] = { ...BASE[spec.name], ...BASE[`${spec.name} --${name}`], [name]: option.multiple ? [value] : value };
  const positionals = (spec.positionals ?? []).map(() => "x");
  for (;;) {
    try {
      return spec.request!({ values, positionals });
    } catch (e) {
      const missing = e instanceof UsageError ? /^--(\S+) is required$/.exec(e.message)?.[1] : undefined;
      if (!missing || values[missing] !== undefined) throw new Error(`${spec.name} --${name} ${value}: ${(e as Error).message} (add what it needs to BASE)`);
      values[missing] = "1";
    }
  }
}

describe("choices and the OpenAPI document", () => {
  let doc: any;
  beforeAll(async () => {
    const env = await makeTestEnv();
    try {
      doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
    } finally {
      env.close();
    }
  });

  it("every option with choices that fills in a request field offers exactly that field's enum", () => {
    const compared: string[] = [];
    for (const { spec, name, option } of WITH_CHOICES) {
      const key = `${spec.name} --${name}`;
      let target: { op: Operation; field: string };
      if (spec.request) {
        const located = option.choices.map((c) => {
          const req = requestWith(spec, name, option, c);
          const found = operationFor(doc, req);
          expect(found, `${key}: ${req.method} ${req.path} is not in the OpenAPI document`).not.toBeNull();
          return { op: found!.op, fields: fieldsHolding(req, found!.params, c) };
        });
        if (located.every((l) => l.fields.length === 0)) {
          expect(NOT_SENT_AS_IS, `${key} sends none of its choices as is: say why in NOT_SENT_AS_IS`).toHaveProperty([key]);
          continue;
        }
        // Each choice lands in exactly one field, the same one for all of them.
        expect(
          located.map((l) => l.fields),
          key,
        ).toEqual(located.map(() => [located[0]!.fields[0]]));
        target = { op: located[0]!.op, field: located[0]!.fields[0]! };
      } else {
        if (LOCAL_ONLY[key]) continue;
        const local = LOCAL_FIELDS[key];
        expect(local, `${key} (a local command): add it to LOCAL_FIELDS or LOCAL_ONLY`).toBeDefined();
        const op = operationsOf(doc).find((o) => o.method === local!.method && o.path === local!.path);
        expect(op, `${key}: ${local!.method} ${local!.path} is not in the OpenAPI document`).toBeDefined();
        target = { op: op!, field: local!.field };
      }
      const allowed = fieldEnum(doc, target.op, target.field);
      expect(allowed, `${key}: ${target.op.method} ${target.op.path} ${target.field} has no enum`).not.toBeNull();
      expect([...option.choices].sort(), `${key} vs ${target.op.method} ${target.op.path} ${target.field}`).toEqual([...allowed!].sort());
      compared.push(key);
    }
    // Most enum options fill in a field; the count keeps this from passing with nothing compared.
    expect(compared.length).toBeGreaterThan(50);
  });

  it("lists no option in its exceptions that no longer has choices", () => {
    const keys = new Set(WITH_CHOICES.map(({ spec, name }) => `${spec.name} --${name}`));
    expect([...Object.keys(NOT_SENT_AS_IS), ...Object.keys(LOCAL_FIELDS), ...Object.keys(LOCAL_ONLY)].filter((k) => !keys.has(k))).toEqual([]);
    for (const key of Object.keys(BASE).filter((k) => k.includes(" --"))) expect(keys, key).toContain(key);
  });
});
