import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../functions/app.ts";
import { DISPATCH_PLUGINS } from "../../functions/executors.ts";
import { makeCtx } from "../../functions/lib/ctx.ts";
import { dispatchPass } from "../../functions/queue/dispatch-pass.ts";
import { resolveHome } from "../home.ts";
import { openLocalServices, type LocalServices } from "../services.ts";

/** One assertion a harness made, kept in its receipt. */
export interface QaCheck {
  name: string;
  passed: boolean;
  detail: Record<string, unknown>;
}

/** What a harness run leaves behind: a JSON receipt with a verdict. */
export interface QaReceipt {
  harness: string;
  verdict: "pass" | "fail";
  started_at: string;
  finished_at: string;
  database: string;
  checks: QaCheck[];
  artifacts: Record<string, unknown>;
  error: string | null;
}

/** An API answer inside a harness. */
export interface Answer {
  status: number;
  body: any;
}

/**
 * A disposable Switchyard for one harness: its own temp home and database, the app in-process
 * as the owner, and a dispatcher pass on demand. Nothing touches the caller's database unless a
 * home is given.
 */
export class HarnessEnv {
  readonly checks: QaCheck[] = [];
  readonly artifacts: Record<string, unknown> = {};
  private constructor(
    readonly services: LocalServices,
    readonly dir: string,
    private readonly owned: boolean,
  ) {}

  /** Opens a fresh home under a temp dir, or `home` when given (e.g. --path). */
  static async open(home?: string): Promise<HarnessEnv> {
    const dir = home ?? mkdtempSync(join(tmpdir(), "switchyard-qa-"));
    const services = await openLocalServices({ home: resolveHome({}, { home: dir }) });
    // No tmux for these harnesses: every session is a pull (no-tmux) session.
    return new HarnessEnv(services, dir, home === undefined);
  }

  private appInstance: ReturnType<typeof createApp> | null = null;
  private app() {
    this.appInstance ??= createApp(this.services);
    return this.appInstance;
  }

  /** Calls the API as the owner (or the given token). */
  async call(method: "GET" | "POST", path: string, body?: unknown, token?: string): Promise<Answer> {
    const headers: Record<string, string> = { Authorization: `Bearer ${token ?? this.services.ownerToken}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await this.app().request(`/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** Like call, but fails the harness unless the status is the expected one. */
  async must(expected: number, method: "GET" | "POST", path: string, body?: unknown, token?: string): Promise<any> {
    const r = await this.call(method, path, body, token);
    if (r.status !== expected) throw new Error(`${method} ${path} answered ${r.status}, expected ${expected}: ${JSON.stringify(r.body).slice(0, 400)}`);
    return r.body;
  }

  /** One dispatcher pass, as a dispatcher process would run it. */
  dispatch() {
    return dispatchPass(makeCtx(this.services, { kind: "daemon", tokenId: "qa-harness" }), DISPATCH_PLUGINS, { dispatcherId: "qa-harness" });
  }

  /** Records a check. */
  check(name: string, passed: boolean, detail: Record<string, unknown> = {}): boolean {
    this.checks.push({ name, passed, detail });
    return passed;
  }

  /** A task with a no-tmux worker and manager bound to it (the disposable-binding shape). */
  async boundTask(name: string): Promise<{ task: string; worker: { name: string; token: string }; manager: { name: string; token: string } }> {
    await this.must(201, "POST", "/tasks", { name, goal: `QA harness task ${name}` });
    const w = await this.must(201, "POST", "/sessions", { name: `${name}-w`, role: "worker", thread_id: `${name}-worker-thread` });
    const m = await this.must(201, "POST", "/sessions", { name: `${name}-m`, role: "manager", thread_id: `${name}-manager-thread` });
    await this.must(201, "POST", "/bindings", { task: name, worker: `${name}-w`, manager: `${name}-m` });
    return { task: name, worker: { name: `${name}-w`, token: w.token }, manager: { name: `${name}-m`, token: m.token } };
  }

  close(): void {
    this.services.database.close();
    if (this.owned) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs a harness body and turns its checks (or a thrown error) into a receipt. */
export async function runHarness(name: string, body: (env: HarnessEnv) => Promise<void>, opts: { home?: string } = {}): Promise<QaReceipt> {
  const started = new Date();
  const env = await HarnessEnv.open(opts.home);
  let error: string | null = null;
  try {
    await body(env);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  } finally {
    env.close();
  }
  const passed = error === null && env.checks.length > 0 && env.checks.every((c) => c.passed);
  return {
    harness: name,
    verdict: passed ? "pass" : "fail",
    started_at: started.toISOString(),
    finished_at: new Date().toISOString(),
    database: opts.home ? env.services.home.dbUrl : "disposable",
    checks: env.checks,
    artifacts: env.artifacts,
    error,
  };
}
