/**
 * A thread that parses transcript chunks for ingest (`Host.prepareTranscriptChunk`). libSQL's
 * local driver runs SQLite on the main thread, so ingest parses the next chunk here while the
 * main thread inserts the one before it. One thread serves the process: it starts on the first
 * large chunk (that chunk and any sent before the thread is up are parsed inline, so starting it
 * never delays an ingest), holds the event loop open only while it has work, and after a failure
 * is not used again: the chunks it held are parsed inline, so an ingest never fails because of it.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { PreparedTranscriptChunk, TranscriptChunkJob } from "../functions/lib/host.ts";
import { prepareTranscriptChunk } from "../functions/observe/ingest-chunk.ts";

/** Below this a chunk is parsed inline: posting it costs about what parsing it does. */
export const MIN_OFFLOAD_BYTES = 256 * 1024;

type Pending = { job: TranscriptChunkJob; resolve: (r: PreparedTranscriptChunk) => void; reject: (e: unknown) => void };

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

  /** The chunk prepared on the thread, or null when the caller should prepare it itself. */
  prepare(job: TranscriptChunkJob): Promise<PreparedTranscriptChunk> | null {
    if (this.#failed || job.bytes.length < MIN_OFFLOAD_BYTES) return null;
    if (!this.#worker) this.#start();
    if (!this.#ready) return null;
    const id = this.#next++;
    return new Promise<PreparedTranscriptChunk>((resolve, reject) => {
      this.#pending.set(id, { job, resolve, reject });
      // Work outstanding keeps the process alive until the answer arrives.
      this.#worker!.ref();
      this.#worker!.postMessage({ id, job });
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
        return;
      }
      const p = this.#pending.get(msg.id!);
      if (!p) return;
      this.#pending.delete(msg.id!);
      if (this.#pending.size === 0) worker.unref();
      if (msg.result) p.resolve(msg.result);
      else this.#inline(p);
    });
    const fail = () => {
      if (this.#failed) return;
      this.#failed = true;
      this.#ready = false;
      const held = [...this.#pending.values()];
      this.#pending.clear();
      for (const p of held) this.#inline(p);
      worker.terminate().catch(() => {});
    };
    worker.on("error", fail);
    worker.on("exit", fail);
  }

  /** Prepares a job the thread could not, on this thread (a parse error is the caller's, as inline). */
  #inline(p: Pending): void {
    try {
      p.resolve(prepareTranscriptChunk(p.job));
    } catch (e) {
      p.reject(e);
    }
  }
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
