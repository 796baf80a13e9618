import { createApp } from "../../functions/app.ts";
import type { LocalServices } from "../services.ts";
import { type ApiRequest, buildPath, init, type Transport, toResponse } from "./transport.ts";

/** Calls `createApp` directly against the local database, as the owner unless given a token. */
export class InProcessTransport implements Transport {
  readonly app: ReturnType<typeof createApp>;
  constructor(
    readonly services: LocalServices,
    readonly token: string | null = null,
  ) {
    this.app = createApp(services);
  }
  async send(req: ApiRequest) {
    return toResponse(await this.app.request(buildPath(req), init(req, this.token ?? this.services.ownerToken)));
  }
  async close() {
    this.services.database.close();
  }
}
