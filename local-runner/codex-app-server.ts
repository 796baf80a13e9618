import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * A JSON-RPC 2.0 client for `codex app-server` over stdio (newline-delimited JSON), the protocol
 * Codex's own TUI uses. Only the calls Switchyard needs are typed: hooks/list (to read the
 * content hash Codex trusts hooks by), and turn/steer, turn/interrupt for native actuation.
 * Verified against Codex 0.169 (docs/agent-integration.md).
 */
export class CodexAppServer {
  #child: ChildProcessWithoutNullStreams;
  #next = 0;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #stderr = "";
  #closed: Promise<void>;
  /** Notifications received, newest last (bounded). */
  readonly notifications: Array<{ method: string; params: unknown }> = [];

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => this.#onLine(line));
    child.stderr.on("data", (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString("utf8")).slice(-4000);
    });
    this.#closed = new Promise((resolve) => {
      child.on("close", () => {
        for (const p of this.#pending.values())
          p.reject(new Error(`codex app-server exited before answering${this.#stderr ? `: ${this.#stderr.trim().split("\n").at(-1)}` : ""}`));
        this.#pending.clear();
        resolve();
      });
    });
  }

  /**
   * Starts `codex app-server` (`command` is how this machine runs codex, e.g. from
   * agentLaunchConfig) and performs the initialize handshake.
   */
  static async start(command: string, env: NodeJS.ProcessEnv, opts: { timeoutMs?: number } = {}): Promise<CodexAppServer> {
    const child = spawn(command, ["app-server"], { env, stdio: ["pipe", "pipe", "pipe"] });
    const server = new CodexAppServer(child);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", (e) => reject(new Error(`could not start ${command} app-server: ${e.message}`)));
    });
    await server.call(
      "initialize",
      { clientInfo: { name: "switchyard", title: "Switchyard", version: "0.1.0" }, capabilities: { experimentalApi: true, requestAttestation: false } },
      opts.timeoutMs,
    );
    server.notify("initialized");
    return server;
  }

  #onLine(line: string): void {
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
      this.#child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
    });
  }

  /** Sends a notification (no answer). */
  notify(method: string, params?: unknown): void {
    this.#child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method, ...(params === undefined ? {} : { params }) })}\n`);
  }

  /** Ends the server process (this client's own child) and waits for it. */
  async close(): Promise<void> {
    this.#child.stdin.end();
    this.#child.kill("SIGTERM");
    await this.#closed;
  }
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
