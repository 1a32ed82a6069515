/**
 * What a route handler receives, and the small helpers every route uses.
 *
 * @module
 */

import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Principal } from "./auth.ts";
import type { GatewayBackend } from "./backend.ts";
import { natsUnavailable } from "./errors.ts";
import type { HttpMetrics } from "./metrics.ts";

/** The request as a route sees it. */
export interface RouteContext {
  /** The request. */
  req: Request;
  /** Its parsed URL. */
  url: URL;
  /** Path parameters of the matched pattern (e.g. `id`). */
  params: Record<string, string>;
  /** The caller (`null` when auth is off or the route is open). */
  principal: Principal | null;
  /** The configuration. */
  config: Config;
  /** Request-scoped logger. */
  logger: Logger;
  /** HTTP metrics (for `/metrics`). */
  metrics: HttpMetrics;
  /** The NATS side, or `null` while it is not ready. */
  backend(): GatewayBackend | null;
}

/** A route handler. */
export type RouteHandler = (ctx: RouteContext) => Promise<Response>;

/**
 * The NATS side, or a 503 when it is not ready or the connection is down.
 *
 * @param ctx The route context.
 * @param what What the route was doing, for the error detail.
 * @returns The backend.
 * @throws {HttpError} 503 ERR-PYOCO-0003.
 */
export function requireBackend(ctx: RouteContext, what: string): GatewayBackend {
  const backend = ctx.backend();
  if (backend === null || !backend.state.connected) throw natsUnavailable(what);
  return backend;
}

/**
 * A JSON response.
 *
 * @param body The value to send.
 * @param status HTTP status. @default {200}
 * @returns The response.
 */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}
