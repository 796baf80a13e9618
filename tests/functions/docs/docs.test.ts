import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApp } from "../../../functions/app.ts";
import { makeTestEnv, type TestEnv } from "../../helpers/services.ts";

let env: TestEnv;
beforeEach(async () => {
  env = await makeTestEnv();
});
afterEach(() => env.close());

const distDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

/** Every src/href URL in an HTML page. */
const urlsIn = (html: string) => [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);

describe("GET /docs", () => {
  it("is a page whose every script, style and icon is a same-origin path", async () => {
    const res = await env.app.request("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const urls = urlsIn(await res.text());
    expect(urls).toEqual(["/docs/assets/favicon-32x32.png", "/docs/assets/swagger-ui.css", "/docs/assets/swagger-ui-bundle.js", "/docs/init.js"]);
    for (const url of urls) expect((await env.app.request(url)).status, url).toBe(200);
  });

  it("starts Swagger UI on this server's OpenAPI document, with no outside validator", async () => {
    const res = await env.app.request("/docs/init.js");
    expect(res.headers.get("content-type")).toMatch(/^text\/javascript/);
    const js = await res.text();
    expect(js).toContain('url: "/v1/openapi.json"');
    expect(js).toContain("validatorUrl: null");
    expect(js).not.toMatch(/https?:\/\//);
  });

  it("serves the pinned swagger-ui-dist files byte for byte with their media types", async () => {
    const pinned = JSON.parse(readFileSync(join(import.meta.dirname, "../../../package.json"), "utf8")).dependencies["swagger-ui-dist"];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(JSON.parse(readFileSync(join(distDir, "package.json"), "utf8")).version).toBe(pinned);
    for (const [file, type] of [
      ["swagger-ui-bundle.js", /^text\/javascript/],
      ["swagger-ui.css", /^text\/css/],
      ["favicon-32x32.png", /^image\/png$/],
    ] as const) {
      const res = await env.app.request(`/docs/assets/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers.get("content-type"), file).toMatch(type);
      expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(join(distDir, file))), file).toBe(true);
    }
  });

  it("serves nothing else from the package, nor any path outside it", async () => {
    for (const name of ["index.html", "package.json", "swagger-ui-bundle.js.map", "..%2Fpackage.json", "..%2F..%2F..%2Fpackage.json"]) {
      const res = await env.call("GET", `/docs/assets/${name}`, { token: null });
      expect(res.status, name).toBe(404);
      expect(res.body.error.code, name).toBe("NOT_FOUND");
    }
  });

  it("answers 404 with a hint where the runtime has no assets to serve", async () => {
    const app = createApp({ ...env.services, docsAssets: undefined });
    for (const path of ["/docs", "/docs/init.js", "/docs/assets/swagger-ui.css"]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(404);
      expect((await res.json()).error).toMatchObject({ code: "NOT_FOUND", hint: expect.stringContaining("/v1/openapi.json") });
    }
  });
});
