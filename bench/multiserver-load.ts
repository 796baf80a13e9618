// The load generator of bench/multiserver.ts, run as its own OS process so the servers under test
// do not share an event loop with their clients. Drives autocannon programmatically against
// every server at once and prints one JSON line: what it sent and consumed, and per-instance
// counts and latencies. Usage: tsx bench/multiserver-load.ts '<LoadConfig JSON>'
import autocannon from "autocannon";

/** What the driver hands this process. */
export interface LoadConfig {
  urls: string[];
  token: string;
  durationSeconds: number;
  /** Connections per server doing the cycle / enqueue / consume mix. */
  mixConnections: number[];
  /** Connections per server doing only inbox long polls (consume with wait). */
  pollConnections: number[];
  inboxes: string[];
  task: string;
}

/** One autocannon instance's outcome. */
export interface InstanceReport {
  url: string;
  kind: "mix" | "poll";
  connections: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  p50_ms: number;
  p99_ms: number;
  rps: number;
}

/** What the process prints. */
export interface LoadReport {
  sent: string[];
  consumed: string[];
  ops: Record<string, number>;
  statuses: Record<string, number>;
  instances: InstanceReport[];
}

type Op = "enqueue" | "consume" | "cycle" | "poll";

/**
 * Runs one autocannon instance per server and kind (the mix, the long polls) for the configured
 * duration, and reports which inbox items were acknowledged as sent and as consumed, so the
 * driver can check that each was consumed exactly once.
 */
export async function runLoad(cfg: LoadConfig): Promise<LoadReport> {
  const sent: string[] = [];
  const consumed: string[] = [];
  const ops: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  let seq = 0;
  const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
  const headers = { Authorization: `Bearer ${cfg.token}`, "Content-Type": "application/json" };

  /** Builds the next request of a connection and remembers which operation it is. */
  const setup = (kind: "mix" | "poll") => (req: any, context: any) => {
    const r = Math.random();
    const op: Op = kind === "poll" ? "poll" : r < 0.4 ? "enqueue" : r < 0.75 ? "consume" : "cycle";
    context.op = op;
    const inbox = pick(cfg.inboxes);
    if (op === "enqueue")
      return { ...req, method: "POST", path: "/v1/messages", headers, body: JSON.stringify({ to: inbox, body: `load ${process.pid}-${++seq}` }) };
    if (op === "consume") return { ...req, method: "POST", path: `/v1/sessions/${inbox}/inbox/consume`, headers, body: "{}" };
    if (op === "poll")
      return { ...req, method: "POST", path: `/v1/sessions/${inbox}/inbox/consume`, headers, body: JSON.stringify({ wait: true, timeout: 1 }) };
    return { ...req, method: "POST", path: `/v1/tasks/${cfg.task}/cycle`, headers, body: "{}" };
  };
  const onResponse = (status: number, body: string, context: any) => {
    const op = context.op as Op;
    ops[op] = (ops[op] ?? 0) + 1;
    statuses[`${op} ${status}`] = (statuses[`${op} ${status}`] ?? 0) + 1;
    if (status >= 300) return;
    const json = JSON.parse(body);
    if (op === "enqueue") sent.push(json.inbox_item_id);
    else if ((op === "consume" || op === "poll") && json.item) consumed.push(json.item.id);
  };

  const runs = cfg.urls.flatMap((url, i) =>
    (["mix", "poll"] as const)
      .map((kind) => ({ url, kind, connections: (kind === "mix" ? cfg.mixConnections : cfg.pollConnections)[i] ?? 0 }))
      .filter((x) => x.connections > 0)
      .map(async ({ url, kind, connections }): Promise<InstanceReport> => {
        const result = await autocannon({
          url,
          connections,
          duration: cfg.durationSeconds,
          timeout: 10,
          requests: [{ setupRequest: setup(kind), onResponse }],
        });
        return {
          url,
          kind,
          connections,
          requests: result.requests.total,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          p50_ms: result.latency.p50,
          p99_ms: result.latency.p99,
          rps: result.requests.average,
        };
      }),
  );
  return { sent, consumed, ops, statuses, instances: await Promise.all(runs) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const report = await runLoad(JSON.parse(process.argv[2]!) as LoadConfig);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
