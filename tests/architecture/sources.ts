import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Shared by the architecture tests: which files they scan and what those files import. */

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOURCE = /\.(m|c)?[jt]sx?$/;

/** Every source file under `dir`, recursively, skipping node_modules. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === "node_modules" ? [] : sourceFiles(path);
    return SOURCE.test(name) ? [path] : [];
  });
}

/** Every module specifier in static imports (type-only too), re-exports, dynamic imports and require calls. */
export function specifiers(code: string): string[] {
  const text = code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const patterns = [
    /\bimport\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']/g,
    /\bexport\s+(?:type\s+)?[\w*{}\s,$]+?\s+from\s+["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']/g,
    /\brequire\s*\(\s*["']([^"']+)["']/g,
  ];
  return patterns.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!));
}

/**
 * The relative-import graph of the files under `dirs` (paths relative to the repository root):
 * each file maps to the files it imports, in any form, that are themselves under `dirs`.
 */
export function importGraph(dirs: readonly string[]): Map<string, string[]> {
  const files = dirs.flatMap((d) => sourceFiles(join(ROOT, d)));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = specifiers(readFileSync(file, "utf8"))
      .filter((s) => s.startsWith("."))
      .map((s) => resolve(dirname(file), s))
      .filter((p) => known.has(p));
    graph.set(relative(ROOT, file), [...new Set(targets.map((p) => relative(ROOT, p)))]);
  }
  return graph;
}
