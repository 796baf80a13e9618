/**
 * A thread that parses transcript chunks for ingest (`Host.prepareTranscriptChunk`). libSQL's
 * local driver runs SQLite on the main thread, so ingest parses the next chunk here while the
 * main thread inserts the one before it. One thread serves the process: it starts on the first
 * large chunk (that chunk and any sent before the thread is up are parsed inline, so starting it
 * never delays an ingest), holds the event loop open only while it has work, and after a failure
 * is not used again. A chunk it held when it failed has moved to it, so that ingest fails with an
 * error before committing the chunk; the cursor still marks the last committed line, and the
 * next ingest parses from there inline.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { PreparedTranscriptChunk, TranscriptChunkJob } from "../functions/lib/host.ts";

/** Below this a chunk is parsed inline: posting it costs about what parsing it does. */
export const MIN_OFFLOAD_BYTES = 256 * 1024;

type Pending = { resolve: (r: PreparedTranscriptChunk) => void; reject: (e: unknown) => void };

/** The worker's source, found relative to this file; dist/ sits one level down like local-runner/. */
const WORKER_FILE = fileURLToPath(new URL("../local-runner/transcript-parser-worker.ts", import.meta.url));

/**
 * The worker runs the TypeScript sources through tsx (a runtime dependency), whether this
 * process runs the sources or the CLI bundle, so the parse is the very code ingest runs inline.
 */
function bootstrap(): string {
  const tsx = createRequire(import.meta.url).resolve("tsx/cjs/api");
  return `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(WORKER_FILE)});`;
}

class TranscriptParser {
  #worker: Worker | null = null;
  #ready = false;
  #failed = false;
  #next = 1;
  #pending = new Map<number, Pending>();

  /** Whether the thread is up and takes chunks (false before the first large chunk and after a failure). */
  get ready(): boolean {
    return this.#ready;
  }

  /** The chunk prepared on the thread, or null when the caller should prepare it itself. */
  prepare(job: TranscriptChunkJob): Promise<PreparedTranscriptChunk> | null {
    if (this.#failed || job.head.length + job.bytes.length < MIN_OFFLOAD_BYTES) return null;
    if (!this.#worker) this.#start();
    if (!this.#ready) return null;
    const id = this.#next++;
    return new Promise<PreparedTranscriptChunk>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      // Work outstanding keeps the process alive until the answer arrives.
      this.#worker!.ref();
      // The chunk's buffer moves to the thread instead of being copied (the caller is done
      // with it); a view over less than its buffer, or a small buffer that may be a pool slab
      // shared with other Buffers, is copied.
      this.#worker!.postMessage({ id, job }, movable(job.bytes));
    });
  }

  #start(): void {
    let worker: Worker;
    try {
      worker = new Worker(bootstrap(), { eval: true });
    } catch {
      this.#failed = true;
      return;
    }
    this.#worker = worker;
    worker.unref();
    worker.on("message", (msg: { ready?: true; id?: number; result?: PreparedTranscriptChunk; error?: string }) => {
      if (msg.ready) {
        this.#ready = true;
        // Node refs a worker again once its first message arrives, whatever unref() said before:
        // an idle thread must not keep a finished CLI command (ingest) from exiting.
        if (this.#pending.size === 0) worker.unref();
        return;
      }
      const p = this.#pending.get(msg.id!);
      if (!p) return;
      this.#pending.delete(msg.id!);
      if (this.#pending.size === 0) worker.unref();
      if (msg.result) p.resolve(msg.result);
      else p.reject(new Error(`transcript parser thread: ${msg.error}`));
    });
    const fail = (e?: unknown) => {
      if (this.#failed) return;
      this.#failed = true;
      this.#ready = false;
      const held = [...this.#pending.values()];
      this.#pending.clear();
      const why = e instanceof Error ? e.message : `exited with code ${e}`;
      for (const p of held) p.reject(new Error(`transcript parser thread stopped (${why}); ingest again to continue from the cursor`));
      worker.terminate().catch(() => {});
    };
    worker.on("error", fail);
    worker.on("exit", fail);
  }
}

/** The buffer of `bytes` when moving it to the thread loses nothing anyone else holds. */
function movable(bytes: Uint8Array): ArrayBuffer[] {
  const buf = bytes.buffer;
  // Node's Buffer pool slabs are 8 KiB; a view this large never lives in one.
  return buf instanceof ArrayBuffer && bytes.byteLength >= MIN_OFFLOAD_BYTES / 2 ? [buf] : [];
}

let shared: TranscriptParser | null = null;

/**
 * The process's parser thread (created on first use; a thread is a process resource, like
 * libuv's pool, so every host in the process shares it).
 */
export function transcriptParser(): TranscriptParser {
  shared ??= new TranscriptParser();
  return shared;
}
