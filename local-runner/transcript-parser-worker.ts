// The parser thread's entry (local-runner/transcript-parser.ts starts it): prepares each
// transcript chunk it is sent, in order, with the same pure function ingest runs inline.
import { parentPort } from "node:worker_threads";
import type { TranscriptChunkJob } from "../functions/lib/host.ts";
import { prepareTranscriptChunk } from "../functions/observe/ingest-chunk.ts";

parentPort!.on("message", (msg: { id: number; job: TranscriptChunkJob }) => {
  try {
    parentPort!.postMessage({ id: msg.id, result: prepareTranscriptChunk(msg.job) });
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) });
  }
});
parentPort!.postMessage({ ready: true });
