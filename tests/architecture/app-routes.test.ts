import { describe, expect, it } from "vitest";
import { routeGroupApps } from "../../functions/app.ts";
import { groupsForPath, ROUTE_PATHS } from "../../functions/app-routes.ts";
import { ROUTE_GROUPS } from "../../functions/app-shell.ts";
import { makeTestEnv } from "../helpers/services.ts";

/**
 * The CLI builds its in-process app from the groups functions/app-routes.ts names for a path, so
 * that table must list every route of every group: a route missing from it would answer 404 from
 * the CLI and 200 from the server.
 */
describe("the path → route group table", () => {
  it("lists exactly the routes each group declares", () => {
    const apps = routeGroupApps();
    const actual = Object.fromEntries(
      ROUTE_GROUPS.map(([name, prefix]) => [name, [...new Set(apps[name].routes.map((r) => (prefix === "/" ? r.path : `${prefix}${r.path}`)))].sort()]),
    );
    const lines = Object.entries(actual).map(([name, paths]) => `  ${name}: [${paths.map((p) => JSON.stringify(p)).join(", ")}],`);
    // On a failure, the expected table (paste it into ROUTE_PATHS in functions/app-routes.ts):
    expect(ROUTE_PATHS, `ROUTE_PATHS should be:\n${lines.join("\n")}`).toEqual(actual);
  });

  it("maps every path of the OpenAPI document to the group that declares it", async () => {
    const env = await makeTestEnv({ host: null });
    try {
      const doc = (await env.call("GET", "/v1/openapi.json", { token: null })).body;
      const apps = routeGroupApps();
      const paths = Object.keys(doc.paths).filter((p) => p !== "/v1/openapi.json");
      expect(paths.length).toBeGreaterThan(100);
      for (const documented of paths) {
        // A concrete path: each {param} filled with a value that is not a literal segment anywhere.
        const concrete = documented.replace(/\{[^}]+\}/g, "p1");
        const groups = groupsForPath(concrete);
        const honoPath = documented.replace(/\{([^}]+)\}/g, ":$1");
        const declaring = ROUTE_GROUPS.filter(([name, prefix]) =>
          apps[name].routes.some((r) => (prefix === "/" ? r.path : `${prefix}${r.path}`) === honoPath),
        ).map(([n]) => n);
        expect(declaring.length, documented).toBeGreaterThan(0);
        expect(groups, documented).toEqual(expect.arrayContaining(declaring));
      }
    } finally {
      env.close();
    }
  });

  it("leaves the full app's own documents (OpenAPI, docs, MCP, the dashboard page) to the full app", () => {
    for (const p of ["/v1/openapi.json", "/docs", "/mcp", "/dashboard", "/", "/v1/nope"]) expect(groupsForPath(p), p).toBeNull();
  });
});
