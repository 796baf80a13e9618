import { constants } from "node:fs";
import { lstat, mkdir, open, realpath, rm } from "node:fs/promises";
import { connect } from "node:net";
import { isAbsolute, join, relative, sep } from "node:path";
import { ApiError } from "../../functions/lib/errors.ts";

/** A path is inside `root` (both already resolved) when the relative path does not climb out. */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * Writes files under `dir`, which must exist and be a directory (after symlinks). Each name is
 * relative, has no `..` segment, and its parent resolves under `dir`; a file is created new
 * (O_EXCL, no symlink followed at the last step), so nothing is written outside the directory
 * and nothing existing is overwritten. Returns the absolute paths written.
 */
export async function writeFilesUnder(dir: string, files: Array<{ name: string; bytes: Uint8Array }>): Promise<string[]> {
  if (!isAbsolute(dir)) throw new ApiError("PATH_NOT_ALLOWED", `export directory '${dir}' is not an absolute path`, { hint: "Pass an absolute directory." });
  let root: string;
  try {
    root = await realpath(dir);
    if (!(await lstat(root)).isDirectory()) throw new Error("not a directory");
  } catch {
    throw new ApiError("PATH_NOT_FOUND", `export directory '${dir}' does not exist or is not a directory`, {
      hint: "Create it first, or choose another --out.",
    });
  }
  const written: string[] = [];
  try {
    for (const f of files) await writeOne(root, f, written);
  } catch (e) {
    // A later file that fails (a name already taken, a full disk) must not leave the earlier
    // ones behind: the caller may retry under another name. Only files created here are removed.
    await Promise.all(written.map((p) => rm(p, { force: true }).catch(() => {})));
    throw e;
  }
  return written;
}

/** A file or directory of an export that the filesystem refused (permissions, a full disk, /proc or /sys). */
function cannotCreate(name: string, root: string, e: unknown): ApiError {
  return new ApiError("PATH_NOT_ALLOWED", `cannot create export file '${name}' under '${root}': ${(e as Error).message}`, {
    hint: "Choose a directory this user may write (check its permissions and free space, and that nothing in it is a symlink).",
  });
}

/** Creates one file of `writeFilesUnder` (recorded in `written` as soon as it exists). */
async function writeOne(root: string, f: { name: string; bytes: Uint8Array }, written: string[]): Promise<void> {
  const parts = f.name.split("/");
  if (isAbsolute(f.name) || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new ApiError("PATH_NOT_ALLOWED", `export file name '${f.name}' is not a plain relative path`, {
      hint: "Export file names are relative paths without '.', '..' or empty parts.",
    });
  }
  // One directory level at a time, never mkdir's recursive mode: under /proc that never settles
  // (Node 20) and spins a core; each level must also still resolve under the root.
  let parent = root;
  for (const part of parts.slice(0, -1)) {
    const next = join(parent, part);
    try {
      await mkdir(next, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw cannotCreate(f.name, root, e);
    }
    try {
      parent = await realpath(next);
    } catch (e) {
      throw cannotCreate(f.name, root, e);
    }
    if (!inside(root, parent))
      throw new ApiError("PATH_NOT_ALLOWED", `export file '${f.name}' would land outside '${root}'`, {
        hint: "Something under the directory is a symlink out of it.",
      });
  }
  const handle = await open(
    join(parent, parts[parts.length - 1]!),
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  ).catch((e) => {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") {
      throw new ApiError("CONFLICT", `cannot create export file '${f.name}' under '${root}': ${(e as Error).message}`, {
        hint: "Remove the earlier export, or choose another --out.",
      });
    }
    throw cannotCreate(f.name, root, e);
  });
  written.push(join(parent, parts[parts.length - 1]!));
  try {
    await handle.writeFile(f.bytes);
  } finally {
    await handle.close();
  }
}

/**
 * Whether something accepts TCP connections on 127.0.0.1:port, and if so whether it answers
 * /healthz like a Switchyard server. Bounded: one connect and one request, each with a timeout.
 */
export async function probePort(port: number, timeoutMs = 1500): Promise<{ listening: boolean; switchyard: boolean }> {
  const listening = await new Promise<boolean>((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
  if (!listening) return { listening: false, switchyard: false };
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json()) as { service?: string; ok?: boolean };
    return { listening: true, switchyard: res.ok && typeof body === "object" && body !== null && ("db" in body || body.service === "switchyard") };
  } catch {
    return { listening: true, switchyard: false };
  }
}
