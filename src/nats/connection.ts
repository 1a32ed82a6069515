/**
 * NATS connection from configuration: several servers, token / user-password / creds-file auth,
 * TLS CA, endless reconnects, and a live view of whether the connection is up.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { credsAuthenticator } from "@nats-io/nats-core";
import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import type { Config } from "../config.ts";

export type { NatsConnection };

/** Options of {@linkcode connectNats}. */
export interface ConnectNatsOptions {
  /** Connection name shown by NATS monitoring. */
  name?: string;
  /**
   * Keep trying until the first connection succeeds instead of failing at once.
   * @default {false}
   */
  waitOnFirstConnect?: boolean;
  /** Fail the first connection attempt after this many milliseconds. @default {5000} */
  timeoutMs?: number;
}

/** NATS could not be reached (or refused the credentials). */
export class NatsUnavailableError extends Error {
  /**
   * @param message What failed.
   * @param options Keeps `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsUnavailableError";
  }
}

/**
 * The connection options derived from the configuration.
 *
 * @param config The configuration.
 * @param options Name and first-connect behaviour.
 * @returns Options for nats.js `connect()`.
 */
export function natsConnectionOptions(
  config: Config,
  options: ConnectNatsOptions = {},
): ConnectionOptions {
  const opts: ConnectionOptions = {
    servers: config.natsUrl,
    name: options.name ?? config.natsName ?? undefined,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 10_000,
    maxPingOut: 2,
    timeout: options.timeoutMs ?? 5000,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
    // nats.js otherwise builds two Error objects per request to keep async stack traces:
    // 12–19% of gateway and worker CPU in the benchmark (docs/performance.md).
    noAsyncTraces: true,
  };
  if (config.natsToken) opts.token = config.natsToken;
  if (config.natsUser) {
    opts.user = config.natsUser;
    opts.pass = config.natsPassword ?? undefined;
  }
  if (config.natsCredsFile) {
    const path = config.natsCredsFile;
    opts.authenticator = credsAuthenticator(() => Deno.readFileSync(path));
  }
  if (config.natsTlsCaFile) opts.tls = { caFile: config.natsTlsCaFile };
  if (config.natsInboxPrefix) opts.inboxPrefix = config.natsInboxPrefix;
  return opts;
}

/**
 * Connect to NATS as configured.
 *
 * @param config The configuration.
 * @param options Name and first-connect behaviour.
 * @returns The connection.
 * @throws {NatsUnavailableError} When no server answers (or the credentials are refused).
 */
export async function connectNats(
  config: Config,
  options: ConnectNatsOptions = {},
): Promise<NatsConnection> {
  try {
    return await connect(natsConnectionOptions(config, options));
  } catch (err) {
    throw new NatsUnavailableError(
      `Cannot connect to NATS at ${
        config.natsUrl.map((u) => u.replace(/\/\/[^@/]*@/, "//")).join(",")
      }: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * Tracks whether a connection is currently up, from its status events.
 */
export class ConnectionState {
  #connected = true;
  #closed = false;
  #changedAt = Date.now();
  readonly #listeners = new Set<(connected: boolean) => void>();

  /**
   * Follow a connection's status events.
   *
   * @param nc The connection to follow.
   */
  constructor(nc: NatsConnection) {
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnecting") this.#set(false);
        else if (s.type === "reconnect") this.#set(true);
      }
    })().catch(() => {});
    nc.closed().then(() => {
      this.#closed = true;
      this.#set(false);
    });
  }

  /** Whether the connection is up now. */
  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  /** Milliseconds since the connection went down (`0` while it is up). */
  get downForMs(): number {
    return this.connected ? 0 : Date.now() - this.#changedAt;
  }

  /**
   * Wait until the connection is up again, for at most `timeoutMs`.
   *
   * @param timeoutMs The longest wait.
   * @returns Whether it is up.
   */
  waitConnected(timeoutMs: number): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    if (this.#closed || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (up: boolean) => {
        clearTimeout(timer);
        stop();
        resolve(up);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      const stop = this.onChange((up) => {
        if (up) done(true);
      });
    });
  }

  /**
   * Be told of every change.
   *
   * @param fn Called with the new state.
   * @returns A function that stops the notifications.
   */
  onChange(fn: (connected: boolean) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #set(connected: boolean): void {
    if (this.#connected === connected) return;
    this.#connected = connected;
    this.#changedAt = Date.now();
    for (const fn of this.#listeners) {
      try {
        fn(connected);
      } catch { /* listeners must not break the tracker */ }
    }
  }
}
