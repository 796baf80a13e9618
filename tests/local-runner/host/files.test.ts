import { appendFileSync, mkdirSync, renameSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HostError } from "../../../functions/lib/host.ts";
import { NodeHost } from "../../../local-runner/host.ts";
import { kernelNow, Resources } from "./helpers.ts";

const host = new NodeHost();
const res = new Resources();
afterEach(() => res.cleanup());

describe("NodeHost files", () => {
  it("reports size, dev:ino identity and mtime; identity changes when the file is replaced", async () => {
    const dir = res.tmpDir();
    const path = join(dir, "t.jsonl");
    writeFileSync(path, "abc\n");
    const first = (await host.fileInfo(path))!;
    expect(first.size).toBe(4);
    expect(first.identity).toMatch(/^\d+:\d+$/);
    expect(Math.abs(first.mtimeMs - kernelNow())).toBeLessThan(60_000);

    appendFileSync(path, "more\n");
    const grown = (await host.fileInfo(path))!;
    expect(grown.size).toBe(9);
    expect(grown.identity).toBe(first.identity);

    writeFileSync(join(dir, "new"), "x");
    renameSync(join(dir, "new"), path);
    expect((await host.fileInfo(path))!.identity).not.toBe(first.identity);
  });

  it("returns null for a missing path or a directory", async () => {
    const dir = res.tmpDir();
    expect(await host.fileInfo(join(dir, "nope"))).toBeNull();
    expect(await host.fileInfo(join(dir, "nope", "deeper"))).toBeNull();
    expect(await host.fileInfo(dir)).toBeNull();
    expect(await host.fileExists(dir)).toBe(false);
  });

  it("reads raw bytes at offsets, splitting multi-byte UTF-8 characters where asked", async () => {
    const path = join(res.tmpDir(), "u.txt");
    const text = "aé€😀z";
    const bytes = Buffer.from(text, "utf8"); // 1 + 2 + 3 + 4 + 1 bytes
    writeFileSync(path, bytes);
    for (const [offset, length] of [
      [0, 2],
      [2, 3],
      [1, 1],
      [5, 4],
      [6, 100],
      [11, 5],
      [50, 5],
      [0, 0],
    ] as const) {
      const got = await host.readBytes(path, offset, length);
      expect(got).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(got)).toEqual(bytes.subarray(offset, offset + length));
    }
    // Reading in 3-byte steps and decoding as a stream reassembles the text.
    const decoder = new TextDecoder();
    let out = "";
    for (let off = 0; off < bytes.length; off += 3) out += decoder.decode(await host.readBytes(path, off, 3), { stream: true });
    expect(out + decoder.decode()).toBe(text);
  });

  it("reads near the end of a large file without loading the rest", async () => {
    const path = join(res.tmpDir(), "big.jsonl");
    writeFileSync(path, "");
    truncateSync(path, 100 * 1024 * 1024); // sparse: 100 MiB of zeros
    appendFileSync(path, "tail\n");
    const got = await host.readBytes(path, 100 * 1024 * 1024, 1 << 30);
    expect(Buffer.from(got).toString()).toBe("tail\n");
  });

  it("fails with FILE_NOT_FOUND for a missing file and refuses bad ranges", async () => {
    const dir = res.tmpDir();
    const missing = join(dir, "gone.jsonl");
    await expect(host.readBytes(missing, 0, 10)).rejects.toMatchObject({ code: "FILE_NOT_FOUND", message: `file '${missing}' not found` });
    mkdirSync(join(dir, "d"));
    writeFileSync(join(dir, "f"), "x");
    await expect(host.readBytes(join(dir, "f"), -1, 1)).rejects.toBeInstanceOf(HostError);
    await expect(host.readBytes(join(dir, "f"), 0, -1)).rejects.toBeInstanceOf(HostError);
    await expect(host.readBytes(join(dir, "d"), 0, 1)).rejects.toMatchObject({ code: "COMMAND_FAILED" });
  });
});
