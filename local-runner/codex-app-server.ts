import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import WebSocket from "ws";

/** How messages reach the server: newline-delimited JSON on a child's stdio, or WebSocket text frames. */
interface Wire {
  send(line: string): void;
  close(): Promise<void>;
}

/**
 * A JSON-RPC 2.0 client for Codex's app-server, the protocol Codex's own TUI uses. Two ways in:
 * a private `codex app-server` child over stdio (hooks/list for hook trust), or the running
 * app-server daemon of a CODEX_HOME over its control socket, which speaks WebSocket (turn/steer
 * and turn/interrupt on a TUI the daemon serves). Verified against Codex 0.169
 * (docs/agent-integration.md).
 */
export class CodexAppServer {
  #wire!: Wire;
  #next = 0;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #stderr = "";
  /** Notifications received, newest last (bounded). */
  readonly notifications: Array<{ method: string; params: unknown }> = [];

  private constructor() {}

  /**
   * Starts a private `codex app-server` (`command` is how this machine runs codex, e.g. from
   * agentLaunchConfig) and performs the initialize handshake.
   */
  static async start(command: string, env: NodeJS.ProcessEnv, opts: { timeoutMs?: number } = {}): Promise<CodexAppServer> {
    const server = new CodexAppServer();
    const child = spawn(command, ["app-server"], { env, stdio: ["pipe", "pipe", "pipe"] });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", (e) => reject(new Error(`could not start ${command} app-server: ${e.message}`)));
    });
    createInterface({ input: child.stdout }).on("line", (line) => server.#onMessage(line));
    child.stderr.on("data", (d: Buffer) => {
      server.#stderr = (server.#stderr + d.toString("utf8")).slice(-4000);
    });
    const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
    child.on("close", () => server.#failPending("codex app-server exited before answering"));
    server.#wire = {
      send: (line) => child.stdin.write(`${line}\n`),
      async close() {
        child.stdin.end();
        child.kill("SIGTERM");
        await closed;
      },
    };
    await server.#handshake(opts.timeoutMs);
    return server;
  }

  /**
   * Joins the app-server daemon that serves the Codex TUIs of a CODEX_HOME, over its control
   * socket (`$CODEX_HOME/app-server-control/app-server-control.sock`, WebSocket).
   */
  static async connect(socketPath: string, opts: { timeoutMs?: number } = {}): Promise<CodexAppServer> {
    const server = new CodexAppServer();
    const ws = new WebSocket(`ws+unix://${socketPath}:/`, { handshakeTimeout: opts.timeoutMs ?? 5_000 });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", (e) => reject(new Error(`could not reach the codex app-server at ${socketPath}: ${e.message}`)));
    });
    ws.on("message", (data) => server.#onMessage(data.toString()));
    const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
    ws.on("close", () => server.#failPending("codex app-server closed the connection before answering"));
    server.#wire = {
      send: (line) => ws.send(line),
      async close() {
        ws.close();
        await closed;
      },
    };
    await server.#handshake(opts.timeoutMs);
    return server;
  }

  async #handshake(timeoutMs?: number): Promise<void> {
    await this.call(
      "initialize",
      { clientInfo: { name: "switchyard", title: "Switchyard", version: "0.1.0" }, capabilities: { experimentalApi: true, requestAttestation: false } },
      timeoutMs,
    );
    this.notify("initialized");
  }

  #failPending(why: string): void {
    for (const p of this.#pending.values()) p.reject(new Error(`${why}${this.#stderr ? `: ${this.#stderr.trim().split("\n").at(-1)}` : ""}`));
    this.#pending.clear();
  }

  #onMessage(line: string): void {
    let msg: { id?: number; result?: unknown; error?: { message?: string; code?: number }; method?: string; params?: unknown };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof msg.id === "number" && this.#pending.has(msg.id) && msg.method === undefined) {
      const p = this.#pending.get(msg.id)!;
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`codex app-server: ${msg.error.message ?? "error"} (code ${msg.error.code ?? "?"})`));
      else p.resolve(msg.result);
      return;
    }
    if (msg.method) {
      this.notifications.push({ method: msg.method, params: msg.params });
      if (this.notifications.length > 200) this.notifications.shift();
    }
  }

  /** Sends a request and resolves with its result (rejects on an error answer or timeout). */
  call<T = any>(method: string, params: unknown, timeoutMs = 20_000): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`codex app-server did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#wire.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  /** Sends a notification (no answer). */
  notify(method: string, params?: unknown): void {
    this.#wire.send(JSON.stringify({ jsonrpc: "2.0", method, ...(params === undefined ? {} : { params }) }));
  }

  /** Closes the connection (and ends a private server, which is this client's own child). */
  async close(): Promise<void> {
    await this.#wire.close();
  }
}

/** The control socket of the app-server daemon of a CODEX_HOME, if one is listening. */
export function codexDaemonSocket(codexHome: string): string | null {
  const p = join(codexHome, "app-server-control", "app-server-control.sock");
  return existsSync(p) ? p : null;
}

/** One hook as `hooks/list` reports it (the fields Switchyard reads). */
export interface CodexHookInfo {
  key: string;
  eventName: string;
  handlerType: string;
  command?: string;
  sourcePath: string;
  currentHash: string;
  trustStatus: "managed" | "untrusted" | "trusted" | "modified";
  enabled: boolean;
}

/** Every hook Codex sees for `cwd` (user, project and plugin layers), with its trust status. */
export async function listCodexHooks(server: CodexAppServer, cwd: string): Promise<{ hooks: CodexHookInfo[]; errors: unknown[]; warnings: string[] }> {
  const res = await server.call<{ data: Array<{ hooks: CodexHookInfo[]; errors: unknown[]; warnings: string[] }> }>("hooks/list", { cwds: [cwd] });
  const entry = res.data[0] ?? { hooks: [], errors: [], warnings: [] };
  return { hooks: entry.hooks, errors: entry.errors, warnings: entry.warnings };
}
