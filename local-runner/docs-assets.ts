import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { DocsAssets } from "../functions/lib/ctx.ts";

/** The Swagger UI files /docs uses, with their media types; nothing else in the package is served. */
const FILES: Record<string, string> = {
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui.css": "text/css; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

/**
 * Serves the API browser from the swagger-ui-dist package pinned in package.json, so /docs needs
 * no network. Files are read on first request and kept in memory (about 1.5 MB in all).
 */
export function swaggerUiAssets(): DocsAssets {
  const cache = new Map<string, Uint8Array<ArrayBuffer>>();
  let dir: string | undefined;
  return {
    async read(name) {
      const type = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
      if (!type) return null;
      let body = cache.get(name);
      if (!body) {
        // Resolved from this file (or the bundle in dist/), so it finds the project's node_modules.
        dir ??= dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
        body = new Uint8Array(await readFile(join(dir, name)));
        cache.set(name, body);
      }
      return { body, type };
    },
  };
}
