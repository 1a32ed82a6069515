/**
 * The gateway's NATS side and its lifecycle, apart from the HTTP server: connect in the
 * background (retrying until a server answers), ensure the JetStream resources and open the run
 * store (retried until they are), check the auth pepper and start the key verifier, then start
 * the cluster-wide chores — the scheduler (`PYOCO_SCHEDULER`) and the sweeper. Until it is ready,
 * `backend` is `null` and `phase` says what it is doing (the reason `GET /ready` gives).
 *
 * @module
 */

import type { NatsConnection } from "@nats-io/nats-core";
import { ApiKeyVerifier, checkPepper, PepperMismatchError } from "../auth/mod.ts";
import type { Config } from "../config.ts";
import { abortableSleep } from "../contract/_util.ts";
import { ErrId } from "../contract/errors.ts";
import type { Logger } from "../log.ts";
import { ConnectionState, connectNats } from "../nats/connection.ts";
import { openBackend, type RunsBackend } from "../runs/backend.ts";
import { type ScheduleDispatcher, startScheduler } from "../runs/schedules/mod.ts";
import { Sweeper, type SweepReport } from "../runs/sweeper.ts";
import type { HttpMetrics } from "./metrics.ts";

/** Options of {@linkcode NatsSide}. */
export interface NatsSideOptions {
  /** The configuration. */
  config: Config;
  /** The gateway logger. */
  logger: Logger;
  /** Counters for what the chores do. */
  metrics: HttpMetrics;
  /** Called when the gateway must not go on (a pepper mismatch). */
  onFatal: (err: Error) => void;
}

/** The NATS side of one gateway process. */
export class NatsSide {
  /** The run store once ready, else `null`. */
  backend: RunsBackend | null = null;
  /** The API key verifier once ready (`api_key` mode), else `null`. */
  verifier: ApiKeyVerifier | null = null;
  /** What the NATS side is doing while not ready. */
  phase = "Connecting to NATS";
  readonly #o: NatsSideOptions;
  readonly #stop = new AbortController();
  readonly #urls: string;
  #nc: NatsConnection | null = null;
  #scheduler: ScheduleDispatcher | null = null;
  #sweeper: Sweeper | null = null;
  #started: Promise<void> | null = null;

  /**
   * Make the NATS side (nothing connects until {@linkcode NatsSide.start}).
   *
   * @param options Configuration, logger, metrics and the fatal-error hook.
   */
  constructor(options: NatsSideOptions) {
    this.#o = options;
    this.#urls = options.config.natsUrl.map((u) => u.replace(/\/\/[^@/]*@/, "//")).join(",");
  }

  /** Connect and open everything in the background; errors are logged, never thrown. */
  start(): void {
    this.#started ??= (async () => {
      const nc = await this.#connect();
      if (nc === null) return;
      await this.#open(nc);
    })().catch((err) => {
      this.#o.logger.error("NATS start-up failed", { err_id: ErrId.internal }, err);
    });
  }

  /** Stop the chores, the verifier, the run store and the connection. */
  async close(): Promise<void> {
    this.#stop.abort();
    // The first connection attempt cannot be cancelled: do not wait for it forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#started, new Promise((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
    await this.#scheduler?.close().catch(() => {});
    await this.#sweeper?.stop().catch(() => {});
    await this.verifier?.close().catch(() => {});
    await this.backend?.close().catch(() => {});
    await this.#nc?.close().catch(() => {});
    this.backend = null;
  }

  async #connect(): Promise<NatsConnection | null> {
    const { config, logger } = this.#o;
    const stop = this.#stop.signal;
    for (let delay = 250; !stop.aborted; delay = Math.min(delay * 2, 5000)) {
      try {
        const conn = await connectNats(config, { name: "pyoco-gateway", waitOnFirstConnect: true });
        if (stop.aborted) {
          await conn.close().catch(() => {});
          return null;
        }
        this.#nc = conn;
        return conn;
      } catch (err) {
        this.phase = `Cannot connect to NATS (${this.#urls}); retrying`;
        logger.error("Cannot connect to NATS; retrying", {
          err_id: ErrId.natsUnavailable,
          nats_url: this.#urls,
        }, err);
        await abortableSleep(delay, stop).catch(() => {});
      }
    }
    return null;
  }

  #follow(conn: NatsConnection): ConnectionState {
    const { logger } = this.#o;
    const state = new ConnectionState(conn);
    state.onChange((up) => {
      const fields = { nats_url: this.#urls };
      if (up) logger.info("NATS connection restored", fields);
      else if (this.#stop.signal.aborted) {
        logger.debug("NATS connection closed (gateway stopping)", fields);
      } else {
        logger.warn("NATS connection lost; NATS-backed routes answer 503", {
          err_id: ErrId.natsUnavailable,
          ...fields,
        });
      }
    });
    return state;
  }

  async #open(conn: NatsConnection): Promise<void> {
    const { config, logger } = this.#o;
    const stop = this.#stop.signal;
    const state = this.#follow(conn);
    this.phase = "Connected to NATS; ensuring the JetStream resources";
    for (let delay = 250; !stop.aborted; delay = Math.min(delay * 2, 5000)) {
      let opened: RunsBackend | null = null;
      try {
        opened = await openBackend(conn, config, { logger, state });
        if (config.httpAuthMode === "api_key") await this.#startVerifier(opened, conn);
        if (stop.aborted) {
          await opened.close();
          await this.verifier?.close();
          return;
        }
        await this.#startChores(opened);
        this.backend = opened;
        logger.info("Connected to NATS; JetStream resources ready", { nats_url: this.#urls });
        return;
      } catch (err) {
        await opened?.close().catch(() => {});
        if (err instanceof PepperMismatchError) {
          this.phase = `Refusing to serve: ${err.message}`;
          logger.error(err.message, { err_id: ErrId.configInvalid });
          this.#o.onFatal(err);
          return;
        }
        this.phase = `Cannot prepare the JetStream resources (${
          err instanceof Error ? err.message : String(err)
        }); retrying`;
        logger.warn("Cannot prepare the JetStream resources; retrying", {
          err_id: ErrId.natsUnavailable,
          nats_url: this.#urls,
        }, err);
        await abortableSleep(delay, stop).catch(() => {});
      }
    }
  }

  async #startVerifier(opened: RunsBackend, conn: NatsConnection): Promise<void> {
    const { config } = this.#o;
    await checkPepper(opened.auth, {
      pepper: config.authPepper,
      who: "gateway",
      bucket: config.authKvBucket,
      record: true,
    });
    const verifier = new ApiKeyVerifier(opened.auth, {
      pepper: config.authPepper,
      connection: conn,
    });
    await verifier.start();
    this.verifier = verifier;
  }

  async #startChores(opened: RunsBackend): Promise<void> {
    const { config, logger, metrics } = this.#o;
    if (config.scheduler === "on") {
      this.#scheduler = await startScheduler(opened, { config, logger, metrics });
      logger.info("Scheduler started (PYOCO_SCHEDULER=on)", {
        gateway_id: this.#scheduler.gatewayId,
      });
    }
    this.#sweeper = new Sweeper({
      backend: opened,
      config,
      logger,
      holder: `gateway-${crypto.randomUUID()}`,
      onReport: (report) => _countSweep(metrics, report),
    });
    this.#sweeper.start();
  }
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
