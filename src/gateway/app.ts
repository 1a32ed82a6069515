/**
 * The gateway's request handler: routing with `URLPattern`, authentication, one error handler
 * that turns {@linkcode HttpError}s into the JSON error body, request logs and metrics.
 *
 * Unknown path → 404 ERR-PYOCO-0019; known path, other method → 405 ERR-PYOCO-0020 with
 * `Allow`; any unexpected exception → 500 ERR-PYOCO-0023 with the traceback logged (the
 * handler never rejects). Authentication runs after routing and before the body is read, for
 * every route except `/health` and `/ready`. The dashboard (`GET /` and `GET /ui/*`, static assets of
 * `src/dashboard/`) is answered first and needs no key: its API calls carry the key.
 *
 * @module
 */

import type { Config } from "../config.ts";
import { serveDashboard } from "../dashboard/mod.ts";
import { ErrId } from "../contract/errors.ts";
import type { Logger } from "../log.ts";
import { type Authenticate, noAuth, type Principal } from "./auth.ts";
import type { RunsBackend } from "../runs/backend.ts";
import type { RouteContext, RouteHandler } from "./context.ts";
import { HttpError, toHttpError } from "./errors.ts";
import { HttpMetrics } from "./metrics.ts";
import { postCancel } from "./cancel.ts";
import { deleteDlq, getDlq, listDlq, postDlqBulkReplay, postDlqReplay } from "./dead_letters.ts";
import { getRunEvents } from "./events.ts";
import { getFlow, listFlows } from "./flows.ts";
import { getHealth, getMetrics } from "./health.ts";
import {
  deleteSchedule,
  getSchedule,
  listScheduleRuns,
  listSchedules,
  patchSchedule,
  postSchedule,
  postScheduleTrigger,
  postScheduleYaml,
} from "./schedules.ts";
import { getReady } from "./ready.ts";
import { postRetry } from "./retry.ts";
import {
  deleteRunRoute,
  getRun,
  getRunTasks,
  listRuns,
  postRun,
  postRunBatch,
  postRunYaml,
} from "./runs.ts";
import { watchRun, watchRuns } from "./watch.ts";
import { listWorkers, patchWorker } from "./workers.ts";

/** What {@linkcode createApp} needs. */
export interface AppDeps {
  /** The configuration. */
  config: Config;
  /** The gateway logger (service `pyoco-server:http`). */
  logger: Logger;
  /** The NATS side, or `null` while it is not ready (NATS-backed routes then answer 503). */
  backend: () => RunsBackend | null;
  /**
   * Who sent a request. @default {noAuth} (every request anonymous, nothing tenant-scoped)
   */
  authenticate?: Authenticate;
  /** HTTP counters shared with `/metrics`. @default {new HttpMetrics()} */
  metrics?: HttpMetrics;
  /** What the gateway is doing while `backend()` is `null` (the reason `GET /ready` gives). */
  readiness?: () => string;
}

/** The request handler, as `Deno.serve` takes it. */
export type Handler = (req: Request) => Promise<Response>;

interface _Route {
  method: string;
  path: string;
  /** The path's segments; `:name` is a parameter (one non-empty segment). */
  segments: string[];
  open: boolean;
  handle: RouteHandler;
}

function _route(method: string, path: string, handle: RouteHandler, open = false): _Route {
  return { method, path, segments: path.split("/").slice(1), open, handle };
}

/** The route's parameters when `parts` (a request path's segments) match it, else `null`. */
function _match(route: _Route, parts: readonly string[]): Record<string, string> | null {
  const params: Record<string, string> = {};
  for (let i = 0; i < route.segments.length; i++) {
    const want = route.segments[i]!;
    const got = parts[i]!;
    if (want.charCodeAt(0) === 58) { // ":name"
      if (got === "") return null;
      params[want.slice(1)] = _decode(got);
    } else if (want !== got) {
      return null;
    }
  }
  return params;
}

const _ROUTES: readonly _Route[] = [
  _route("GET", "/health", getHealth, true),
  _route("GET", "/ready", getReady, true),
  _route("GET", "/flows", listFlows),
  _route("GET", "/flows/:tag/:name", getFlow),
  _route("POST", "/runs", postRun),
  _route("GET", "/runs", listRuns),
  _route("POST", "/runs/yaml", postRunYaml),
  _route("POST", "/runs/batch", postRunBatch),
  // Before /runs/:id, which would also match it.
  _route("GET", "/runs/watch", watchRuns),
  _route("GET", "/runs/:id", getRun),
  _route("DELETE", "/runs/:id", deleteRunRoute),
  _route("GET", "/runs/:id/tasks", getRunTasks),
  _route("GET", "/runs/:id/watch", watchRun),
  _route("GET", "/runs/:id/events", getRunEvents),
  _route("POST", "/runs/:id/cancel", postCancel),
  _route("POST", "/runs/:id/retry", postRetry),
  _route("GET", "/workers", listWorkers),
  _route("PATCH", "/workers/:id", patchWorker),
  _route("GET", "/dlq", listDlq),
  // Before /dlq/:seq, which would also match it.
  _route("POST", "/dlq/replay", postDlqBulkReplay),
  _route("GET", "/dlq/:seq", getDlq),
  _route("DELETE", "/dlq/:seq", deleteDlq),
  _route("POST", "/dlq/:seq/replay", postDlqReplay),
  _route("GET", "/metrics", getMetrics),
  _route("POST", "/schedules", postSchedule),
  _route("GET", "/schedules", listSchedules),
  // Before /schedules/:id, which would also match it.
  _route("POST", "/schedules/yaml", postScheduleYaml),
  _route("GET", "/schedules/:id", getSchedule),
  _route("PATCH", "/schedules/:id", patchSchedule),
  _route("DELETE", "/schedules/:id", deleteSchedule),
  _route("POST", "/schedules/:id/trigger", postScheduleTrigger),
  _route("GET", "/schedules/:id/runs", listScheduleRuns),
];

/** Routes by number of path segments: a request is matched against a handful, not all. */
const _BY_DEPTH = new Map<number, _Route[]>();
for (const route of _ROUTES) {
  const depth = _depth(route.path);
  _BY_DEPTH.set(depth, [...(_BY_DEPTH.get(depth) ?? []), route]);
}

function _depth(pathname: string): number {
  let n = 0;
  for (let i = 0; i < pathname.length; i++) if (pathname.charCodeAt(i) === 47) n++;
  return n;
}

function _errorResponse(err: HttpError): Response {
  return new Response(JSON.stringify(err.toBody()), {
    status: err.status,
    headers: { "content-type": "application/json", ...err.headers },
  });
}

/**
 * The route of a request: 404 when no path matches, 405 (with `Allow`) when only other methods
 * do. A plain segment match (routing by URLPattern cost ~8% of a submit's gateway CPU).
 */
function _resolve(
  method: string,
  pathname: string,
  onPath: (path: string) => void,
): { route: _Route; params: Record<string, string> } {
  const parts = pathname.split("/").slice(1);
  const matches: { route: _Route; params: Record<string, string> }[] = [];
  for (const r of _BY_DEPTH.get(_depth(pathname)) ?? []) {
    const params = _match(r, parts);
    if (params) matches.push({ route: r, params });
  }
  if (matches.length === 0) throw new HttpError(404, ErrId.notFound, `No route for ${pathname}`);
  const found = matches.find((m) => m.route.method === method);
  if (found) {
    onPath(found.route.path);
    return found;
  }
  const allow = [...new Set(matches.map((m) => m.route.method))].join(", ");
  onPath(matches[0]!.route.path);
  throw new HttpError(
    405,
    ErrId.methodNotAllowed,
    `Method ${method} not allowed on ${pathname} (allowed: ${allow})`,
    { headers: { allow } },
  );
}

/** The answer to an error thrown while serving: its HTTP error, or a logged 500. */
function _failure(
  thrown: unknown,
  at: { logger: Logger; method: string; route: string },
): Response {
  const err = toHttpError(thrown);
  if (err !== null) {
    if (err.status >= 500) {
      at.logger.error(err.detail, {
        method: at.method,
        route: at.route,
        status: err.status,
        err_id: err.errId,
      }, err.cause ?? undefined);
    }
    return _errorResponse(err);
  }
  at.logger.error("Unexpected error while answering a request", {
    method: at.method,
    route: at.route,
    status: 500,
    err_id: ErrId.internal,
  }, thrown);
  return _errorResponse(
    new HttpError(
      500,
      ErrId.internal,
      "Internal error: the gateway failed to answer this request (see its log)",
    ),
  );
}

/**
 * Build the gateway's request handler.
 *
 * @param deps Configuration, logger, NATS side, authenticator and metrics.
 * @returns A handler that always resolves to a response.
 *
 * @example In-process request
 * ```ts ignore
 * const handler = createApp({ config, logger, backend: () => null });
 * const res = await handler(new Request("http://gw/health"));
 * assert.deepEqual(await res.json(), { status: "ok", nats: "disconnected" });
 * ```
 */
export function createApp(deps: AppDeps): Handler {
  const authenticate = deps.authenticate ?? noAuth;
  const metrics = deps.metrics ?? new HttpMetrics();
  const logger = deps.logger;

  return async (req: Request): Promise<Response> => {
    const started = performance.now();
    let routePath = "unmatched";
    let response: Response;
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      url = new URL("http://invalid/");
    }
    const page = serveDashboard(req, url, { apiKeyHeader: deps.config.httpApiKeyHeader });
    if (page !== null) {
      const route = url.pathname === "/" ? "/" : "/ui/*";
      metrics.observe(req.method, route, page.status, (performance.now() - started) / 1000);
      return page;
    }
    try {
      const { route, params } = _resolve(req.method, url.pathname, (path) => (routePath = path));
      const principal: Principal | null = route.open ? null : await authenticate(req);
      const ctx: RouteContext = {
        req,
        url,
        params,
        principal,
        config: deps.config,
        logger,
        metrics,
        backend: deps.backend,
        readiness: deps.readiness,
      };
      response = await route.handle(ctx);
    } catch (thrown) {
      response = _failure(thrown, { logger, method: req.method, route: routePath });
    }
    const seconds = (performance.now() - started) / 1000;
    metrics.observe(req.method, routePath, response.status, seconds);
    if (logger.enabled("DEBUG")) {
      logger.debug("HTTP request", {
        method: req.method,
        route: routePath,
        path: url.pathname,
        status: response.status,
        duration_ms: Math.round(seconds * 1000 * 100) / 100,
      });
    }
    return response;
  };
}

function _decode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
