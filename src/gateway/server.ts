/**
 * Run the gateway: `Deno.serve` starts at once; the NATS side (`nats_side.ts`) connects in the
 * background and opens the run store; until then — and whenever the connection is down —
 * NATS-backed routes answer 503 ERR-PYOCO-0003 while `/health` says `nats: "disconnected"`.
 *
 * @module
 */

import type { Config } from "../config.ts";
import { ErrId } from "../contract/errors.ts";
import { Logger, registerSecret } from "../log.ts";
import { createApp } from "./app.ts";
import { apiKeyAuthenticator, noAuth } from "./auth.ts";
import { HttpMetrics } from "./metrics.ts";
import { NatsSide } from "./nats_side.ts";

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
   * `PepperMismatchError`: this gateway's `PYOCO_AUTH_PEPPER` is not the one the keys
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

  const metrics = new HttpMetrics();
  const stop = new AbortController();
  const nats = new NatsSide({ config, logger, metrics, onFatal: fail });
  const authenticate = config.httpAuthMode === "api_key"
    ? apiKeyAuthenticator(() => nats.verifier, config.httpApiKeyHeader)
    : noAuth;
  const handler = createApp({
    config,
    logger,
    backend: () => nats.backend,
    authenticate,
    metrics,
    readiness: () => nats.phase,
  });

  const server = Deno.serve(
    { hostname: config.httpHost, port: config.httpPort, signal: stop.signal, onListen: () => {} },
    handler,
  );
  const addr = server.addr as Deno.NetAddr;
  const url = `http://${_hostForUrl(addr.hostname)}:${addr.port}`;
  logger.info(`Gateway listening on ${url}`, { auth_mode: config.httpAuthMode });
  nats.start();

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      stop.abort();
      await server.finished.catch(() => {});
      await nats.close();
      logger.info("Gateway stopped");
    })();
    return closing;
  };
  options.signal?.addEventListener("abort", () => void close(), { once: true });

  return {
    url,
    addr,
    get ready() {
      return nats.backend !== null;
    },
    failed,
    close,
  };
}
