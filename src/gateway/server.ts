/**
 * Run the gateway: `Deno.serve` starts at once; NATS is connected in the background (retrying
 * until a server answers), the JetStream resources are ensured once connected (retried until
 * they are), and until then — and whenever the connection is down — NATS-backed routes answer
 * 503 ERR-PYOCO-0003 while `/health` says `nats: "disconnected"`.
 *
 * @module
 */

import { Sweeper, type SweepReport } from "../runs/sweeper.ts";
import { abortableSleep } from "../contract/_util.ts";
import type { NatsConnection } from "@nats-io/nats-core";
import { ApiKeyVerifier, checkPepper, PepperMismatchError } from "../auth/mod.ts";
import type { Config } from "../config.ts";
import { ErrId } from "../contract/errors.ts";
import { Logger, registerSecret } from "../log.ts";
import { ConnectionState, connectNats } from "../nats/connection.ts";
import { createApp } from "./app.ts";
import { apiKeyAuthenticator, noAuth } from "./auth.ts";
import { openBackend, type RunsBackend } from "../runs/backend.ts";
import { HttpMetrics } from "./metrics.ts";
import { type ScheduleDispatcher, startScheduler } from "../runs/schedules/mod.ts";

/** Options of {@linkcode startGateway}. */
export interface StartGatewayOptions {
  /** Logger (default: one built from the configuration, service `pyoco-server:http`). */
  logger?: Logger;
  /** Aborting it closes the gateway. */
  signal?: AbortSignal;
}

/** A running gateway. */
export interface GatewayHandle {
  /** `http://host:port` it listens on. */
  readonly url: string;
  /** The bound address (port 0 in the config gives a random port). */
  readonly addr: Deno.NetAddr;
  /** Whether NATS is connected and the resources are ready. */
  readonly ready: boolean;
  /**
   * Settles with the error when the gateway refuses to go on after start (a
   * {@linkcode PepperMismatchError}: this gateway's `PYOCO_AUTH_PEPPER` is not the one the keys
   * were made with); stays pending otherwise. The CLI exits 1 on it.
   */
  readonly failed: Promise<Error>;
  /** Stop serving, close the NATS connection. Idempotent. */
  close(): Promise<void>;
}

/** Logged at start by a gateway in `api_key` mode without a pepper. */
const _NO_PEPPER_WARNING = "PYOCO_HTTP_AUTH_MODE=api_key without PYOCO_AUTH_PEPPER: " +
  "anyone who can write to the auth KV bucket can add a working API key for any tenant, " +
  "and the stored hashes are all that protects the keys; set a long random PYOCO_AUTH_PEPPER " +
  "(the same on every gateway and admin CLI) before creating keys";

/**
 * A logger for the gateway built from the configuration.
 *
 * @param config The configuration (log level, format, UTC, traceback).
 * @returns The logger (service `pyoco-server:http`).
 */
export function gatewayLogger(config: Config): Logger {
  return new Logger({
    service: "pyoco-server:http",
    logger: "pyoco.gateway",
    level: config.logLevel,
    format: config.logFormat,
    utc: config.logUtc,
    includeTraceback: config.logIncludeTraceback,
  });
}

function _hostForUrl(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

function _countSweep(metrics: HttpMetrics, report: SweepReport): void {
  const help = "Runs the sweeper removed or repaired, by reason (SPEC §11).";
  for (
    const [reason, by] of [
      ["retention", report.expired],
      ["orphan_republished", report.republished],
      ["orphan_interrupted", report.interrupted],
    ] as const
  ) {
    if (by > 0) metrics.count("pyoco_runs_swept_total", { help, labels: { reason }, by });
  }
}

/**
 * Start the gateway.
 *
 * @param config The configuration (`httpHost`, `httpPort` — 0 for any free port — and the rest).
 * @param options Logger and abort signal.
 * @returns The running gateway; it logs one line with its URL once it listens.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 */
export async function startGateway(
  config: Config,
  options: StartGatewayOptions = {},
): Promise<GatewayHandle> {
  await Promise.resolve();
  const logger = options.logger ?? gatewayLogger(config);
  registerSecret(config.authPepper);
  registerSecret(config.natsPassword);
  registerSecret(config.natsToken);
  if (config.httpAuthMode === "api_key" && config.authPepper === "") {
    logger.warn(_NO_PEPPER_WARNING, { err_id: ErrId.configInvalid });
  }
  const { promise: failed, resolve: fail } = Promise.withResolvers<Error>();

  let backend: RunsBackend | null = null;
  let verifier: ApiKeyVerifier | null = null;
  let nc: NatsConnection | null = null;
  let scheduler: ScheduleDispatcher | null = null;
  let sweeper: Sweeper | null = null;
  const stop = new AbortController();
  const metrics = new HttpMetrics();
  /** What `GET /ready` says while the NATS side is not ready. */
  let phase = "Connecting to NATS";
  const authenticate = config.httpAuthMode === "api_key"
    ? apiKeyAuthenticator(() => verifier, config.httpApiKeyHeader)
    : noAuth;
  const handler = createApp({
    config,
    logger,
    backend: () => backend,
    authenticate,
    metrics,
    readiness: () => phase,
  });

  const server = Deno.serve(
    { hostname: config.httpHost, port: config.httpPort, signal: stop.signal, onListen: () => {} },
    handler,
  );
  const addr = server.addr as Deno.NetAddr;
  const url = `http://${_hostForUrl(addr.hostname)}:${addr.port}`;
  logger.info(`Gateway listening on ${url}`, { auth_mode: config.httpAuthMode });

  const natsUrls = config.natsUrl.map((u) => u.replace(/\/\/[^@/]*@/, "//")).join(",");
  const background = (async () => {
    let delay = 250;
    while (!stop.signal.aborted && nc === null) {
      try {
        const conn = await connectNats(config, { name: "pyoco-gateway", waitOnFirstConnect: true });
        if (stop.signal.aborted) {
          await conn.close().catch(() => {});
          return;
        }
        nc = conn;
      } catch (err) {
        phase = `Cannot connect to NATS (${natsUrls}); retrying`;
        logger.error("Cannot connect to NATS; retrying", {
          err_id: ErrId.natsUnavailable,
          nats_url: natsUrls,
        }, err);
        await abortableSleep(delay, stop.signal).catch(() => {});
        delay = Math.min(delay * 2, 5000);
      }
    }
    const conn = nc;
    if (conn === null) return;
    const state = new ConnectionState(conn);
    state.onChange((up) => {
      if (up) logger.info("NATS connection restored", { nats_url: natsUrls });
      else if (stop.signal.aborted) {
        logger.debug("NATS connection closed (gateway stopping)", { nats_url: natsUrls });
      } else {
        logger.warn("NATS connection lost; NATS-backed routes answer 503", {
          err_id: ErrId.natsUnavailable,
          nats_url: natsUrls,
        });
      }
    });
    delay = 250;
    phase = "Connected to NATS; ensuring the JetStream resources";
    while (!stop.signal.aborted) {
      let opened: RunsBackend | null = null;
      try {
        opened = await openBackend(conn, config, { logger, state });
        if (config.httpAuthMode === "api_key") {
          await checkPepper(opened.auth, {
            pepper: config.authPepper,
            who: "gateway",
            bucket: config.authKvBucket,
            record: true,
          });
          const v = new ApiKeyVerifier(opened.auth, {
            pepper: config.authPepper,
            connection: conn,
          });
          await v.start();
          verifier = v;
        }
        if (stop.signal.aborted) {
          await opened.close();
          await verifier?.close();
          return;
        }
        if (config.scheduler === "on") {
          scheduler = await startScheduler(opened, { config, logger, metrics });
          logger.info("Scheduler started (PYOCO_SCHEDULER=on)", {
            gateway_id: scheduler.gatewayId,
          });
        }
        sweeper = new Sweeper({
          backend: opened,
          config,
          logger,
          holder: `gateway-${crypto.randomUUID()}`,
          onReport: (report) => _countSweep(metrics, report),
        });
        sweeper.start();
        backend = opened;
        logger.info("Connected to NATS; JetStream resources ready", { nats_url: natsUrls });
        return;
      } catch (err) {
        await opened?.close().catch(() => {});
        if (err instanceof PepperMismatchError) {
          phase = `Refusing to serve: ${err.message}`;
          logger.error(err.message, { err_id: ErrId.configInvalid });
          fail(err);
          return;
        }
        phase = `Cannot prepare the JetStream resources (${
          err instanceof Error ? err.message : String(err)
        }); retrying`;
        logger.warn("Cannot prepare the JetStream resources; retrying", {
          err_id: ErrId.natsUnavailable,
          nats_url: natsUrls,
        }, err);
        await abortableSleep(delay, stop.signal).catch(() => {});
        delay = Math.min(delay * 2, 5000);
      }
    }
  })().catch((err) => {
    logger.error("NATS start-up failed", { err_id: ErrId.internal }, err);
  });

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      stop.abort();
      await server.finished.catch(() => {});
      // The first connection attempt cannot be cancelled: do not wait for it forever.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([background, new Promise((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
      await scheduler?.close().catch(() => {});
      await sweeper?.stop().catch(() => {});
      await verifier?.close().catch(() => {});
      await backend?.close().catch(() => {});
      await nc?.close().catch(() => {});
      backend = null;
      logger.info("Gateway stopped");
    })();
    return closing;
  };
  options.signal?.addEventListener("abort", () => void close(), { once: true });

  return {
    url,
    addr,
    get ready() {
      return backend !== null;
    },
    failed,
    close,
  };
}
