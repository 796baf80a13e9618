import { basename, dirname, sep } from "node:path";
import type { CodexThreadControl } from "../../functions/lib/host.ts";
import { CodexAppServer, codexDaemonSocket } from "../codex-app-server.ts";

/**
 * CODEX_HOME and thread id of a rollout: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread uuid>.jsonl`.
 * Null for a path of another shape.
 */
export function rolloutIdentity(path: string): { codexHome: string; threadId: string } | null {
  const m = /^rollout-.*-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$/.exec(basename(path));
  const parts = dirname(path).split(sep);
  // …/<CODEX_HOME>/sessions/YYYY/MM/DD
  if (!m || parts.length < 5 || parts.at(-4) !== "sessions") return null;
  return { codexHome: parts.slice(0, -4).join(sep), threadId: m[1]! };
}

type Turn = { id: string; status: string };

/**
 * Connects to the app-server daemon of the rollout's CODEX_HOME when it is listening and has
 * the thread loaded (a TUI in daemon mode is showing it); null otherwise.
 */
export async function codexThread(rolloutPath: string): Promise<CodexThreadControl | null> {
  const id = rolloutIdentity(rolloutPath);
  const socket = id ? codexDaemonSocket(id.codexHome) : null;
  if (!id || !socket) return null;
  let server: CodexAppServer;
  try {
    server = await CodexAppServer.connect(socket, { timeoutMs: 5_000 });
  } catch {
    return null;
  }
  const loaded = await server.call<{ data: string[] }>("thread/loaded/list", {}, 5_000).catch(() => ({ data: [] as string[] }));
  if (!loaded.data.includes(id.threadId)) {
    await server.close();
    return null;
  }
  const running = async (): Promise<Turn | null> => {
    const turns = await server.call<{ data: Turn[] }>("thread/turns/list", { threadId: id.threadId, limit: 1 }, 10_000);
    const t = turns.data[0];
    return t && t.status === "inProgress" ? t : null;
  };
  return {
    threadId: id.threadId,
    async submit(text) {
      const input = [{ type: "text", text, text_elements: [] }];
      const turn = await running();
      if (turn) {
        const r = await server.call<{ turnId: string }>("turn/steer", { threadId: id.threadId, expectedTurnId: turn.id, input });
        return { turn_id: r.turnId, via: "turn/steer" };
      }
      const r = await server.call<{ turn: { id: string } }>("turn/start", { threadId: id.threadId, input });
      return { turn_id: r.turn.id, via: "turn/start" };
    },
    async interrupt() {
      const turn = await running();
      if (!turn) return { turn_id: null };
      await server.call("turn/interrupt", { threadId: id.threadId, turnId: turn.id });
      return { turn_id: turn.id };
    },
    close: () => server.close(),
  };
}
