import type { Hono } from "hono";
import { createPartialApp } from "../../functions/app-partial.ts";
import { groupsForPath } from "../../functions/app-routes.ts";
import type { AppEnv } from "../../functions/lib/env.ts";
import type { LocalServices } from "../services.ts";
import { type ApiRequest, buildPath, init, type Transport, toResponse } from "./transport.ts";

/**
 * Calls the app directly against the local database, as the owner unless given a token. Each
 * request gets an app with only the route groups its path can reach (the same shell and
 * middleware as the full app, so the same answer); a path no group covers gets the full app.
 */
export class InProcessTransport implements Transport {
  readonly #apps = new Map<string, Promise<Hono<AppEnv, any, any>>>();
  constructor(
    readonly services: LocalServices,
    readonly token: string | null = null,
  ) {}

  /** The app for a path, built once per set of groups. */
  #appFor(path: string) {
    const groups = groupsForPath(path);
    const key = groups ? groups.join(",") : "*";
    let app = this.#apps.get(key);
    if (!app) {
      app = groups ? createPartialApp(this.services, groups) : import("../../functions/app.ts").then(({ createApp }) => createApp(this.services));
      this.#apps.set(key, app);
    }
    return app;
  }

  async send(req: ApiRequest) {
    const url = buildPath(req);
    // The path as the app's router will see it, after URL normalisation.
    const app = await this.#appFor(new URL(url, "http://localhost").pathname);
    return toResponse(await app.request(url, init(req, this.token ?? this.services.ownerToken)));
  }
  async close() {
    this.services.database.close();
  }
}
