import { open, stat } from "node:fs/promises";
import { HostError, type FileInfo } from "../../functions/lib/host.ts";

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** True when `path` exists and is a regular file (symlinks followed). */
export async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Size, identity and mtime of a regular file, or null when there is none at `path`. Device and
 * inode come from a bigint stat because 64-bit inode numbers can exceed 2^53.
 */
export async function fileInfo(path: string): Promise<FileInfo | null> {
  let st;
  try {
    st = await stat(path, { bigint: true });
  } catch (e) {
    if (isMissing(e)) return null;
    throw new HostError("COMMAND_FAILED", `cannot stat '${path}': ${(e as Error).message}`);
  }
  if (!st.isFile()) return null;
  return { size: Number(st.size), identity: `${st.dev}:${st.ino}`, mtimeMs: Number(st.mtimeNs / 1000n) / 1000 };
}

/**
 * Reads up to `length` bytes at `offset` with one open/read/close, never the whole file, and
 * returns fewer at end of file. Bytes are returned raw: a multi-byte UTF-8 character may be
 * split at either edge and the caller reassembles it.
 */
export async function readBytes(path: string, offset: number, length: number): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new HostError("COMMAND_FAILED", `read of '${path}': offset ${offset} is invalid`);
  if (!Number.isSafeInteger(length) || length < 0) throw new HostError("COMMAND_FAILED", `read of '${path}': length ${length} is invalid`);
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    if (isMissing(e)) throw new HostError("FILE_NOT_FOUND", `file '${path}' not found`);
    throw new HostError("COMMAND_FAILED", `cannot open '${path}': ${(e as Error).message}`);
  }
  try {
    // Size the buffer by what the file holds so a generous `length` never allocates more.
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
    let got = 0;
    // A single read(2) may return short on large requests; loop until full or end of file.
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return new Uint8Array(buf.buffer, buf.byteOffset, got);
  } catch (e) {
    throw new HostError("COMMAND_FAILED", `cannot read '${path}' at offset ${offset}: ${(e as Error).message}`);
  } finally {
    await fh.close();
  }
}
