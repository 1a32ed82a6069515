/**
 * What a route handler receives, and the small helpers every route uses.
 *
 * @module
 */

import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Principal } from "./auth.ts";
import type { RunsBackend } from "../runs/backend.ts";
import { natsUnavailable } from "./errors.ts";
import type { HttpMetrics } from "./metrics.ts";
import type { ReadScope } from "../runs/reads.ts";

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
  backend(): RunsBackend | null;
  /** What the gateway is doing while the NATS side is not ready (for `GET /ready`). */
  readiness?: () => string;
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
export function requireBackend(ctx: RouteContext, what: string): RunsBackend {
  const backend = ctx.backend();
  if (backend === null || !backend.state.connected) throw natsUnavailable(what);
  return backend;
}

/** Longest wait for a lost connection to come back before a write answers 503. */
const _RECONNECT_WAIT_MS = 2000;

/**
 * The NATS side for a write that should ride out a node loss: when the connection went down
 * less than `PYOCO_NATS_RETRY_SEC` ago (a server of the cluster died and the client is moving to
 * another), wait up to 2 s for it to come back; a connection down for longer answers 503 at once.
 *
 * @param ctx The route context.
 * @param what What the route was doing, for the error detail.
 * @returns The backend, connected.
 * @throws {HttpError} 503 ERR-PYOCO-0003.
 */
export async function requireBackendForWrite(
  ctx: RouteContext,
  what: string,
): Promise<RunsBackend> {
  const backend = ctx.backend();
  if (backend !== null && !backend.state.connected) {
    const windowMs = ctx.config.natsRetrySec * 1000;
    const downFor = backend.state.downForMs;
    if (downFor < windowMs) {
      await backend.state.waitConnected(Math.min(_RECONNECT_WAIT_MS, windowMs - downFor));
    }
  }
  return requireBackend(ctx, what);
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

/**
 * Whose runs the caller may see: its tenant with auth on, every run with auth off.
 *
 * @param ctx The route context.
 * @returns The read scope for `src/runs/reads.ts`.
 */
export function scopeOf(ctx: Pick<RouteContext, "principal">): ReadScope {
  return ctx.principal === null ? {} : { tenantId: ctx.principal.tenantId };
}
