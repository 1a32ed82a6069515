/**
 * {@linkcode RevocationWatch}: the KV watch on `api_keys.>` that lets the
 * `ApiKeyVerifier` trust its cache, and the rules for when that watch counts as
 * healthy.
 *
 * Health (decided conservatively): the watch counts as healthy only when `start()` succeeded,
 * `close()` was not called, the watch iterator is running and a `connection` status source was
 * given and reports no disconnect since the watch was last (re)opened. On `reconnect` the watch
 * is re-opened (updates missed while disconnected are never replayed, so the {@linkcode epoch}
 * moves on and entries confirmed before it are re-checked once by the verifier). A watch that
 * breaks is re-opened every `retryMs` until it opens or the watch is closed.
 *
 * @module
 */

import type { KV, KvWatchEntry } from "@nats-io/kv";
import { KvWatchInclude } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { API_KEYS_KV_PREFIX } from "./store.ts";

/** A connection status event; a `NatsConnection`'s `Status` fits. */
export interface ConnectionStatusEvent {
  /** `disconnect`, `reconnecting`, `reconnect`, `staleConnection`, `close`, … */
  type: string;
}

/** The part of a `NatsConnection` the verifier listens to (pass the `NatsConnection`). */
export interface ConnectionStatusSource {
  /**
   * Connection status events.
   *
   * @returns An iterable of events, ended when the connection closes.
   */
  status(): AsyncIterable<ConnectionStatusEvent>;
}

/** Options of {@linkcode RevocationWatch}. */
export interface RevocationWatchOptions {
  /** The NATS connection behind the bucket; without it the watch never counts as healthy. */
  connection?: ConnectionStatusSource;
  /** Delay between attempts to re-open a broken watch, in milliseconds. */
  retryMs: number;
  /** Called for every change of an `api_keys.*` entry (put, delete or purge). */
  onEntry: (entry: KvWatchEntry) => void;
}

/**
 * Watches the API-key records of an auth bucket and reports whether that watch can be trusted.
 * Used by `ApiKeyVerifier`; not part of the package's public surface.
 */
export class RevocationWatch {
  readonly #kv: KV;
  readonly #connection: ConnectionStatusSource | undefined;
  readonly #retryMs: number;
  readonly #onEntry: (entry: KvWatchEntry) => void;

  #started = false;
  #closed = false;
  #connected = false;
  #watch: QueuedIterator<KvWatchEntry> | null = null;
  #watchLoop: Promise<void> = Promise.resolve();
  #opening: Promise<void> | null = null;
  #reopenPending = false;
  #statusIter: AsyncIterable<ConnectionStatusEvent> | null = null;
  #statusLoop: Promise<void> = Promise.resolve();
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryWake: (() => void) | undefined;
  #epoch = 0;
  #opens = 0;

  /**
   * Create the watch; nothing happens before {@linkcode RevocationWatch.start}.
   *
   * @param kv The auth bucket.
   * @param options Connection, retry delay and the entry callback.
   */
  constructor(kv: KV, options: RevocationWatchOptions) {
    this.#kv = kv;
    this.#connection = options.connection;
    this.#retryMs = options.retryMs;
    this.#onEntry = options.onEntry;
  }

  /**
   * Whether the watch is known to be live (see the module documentation).
   *
   * @returns `true` when cached successes may be trusted without KV.
   */
  get healthy(): boolean {
    return this.#started && !this.#closed && this.#connection !== undefined &&
      this.#connected && this.#watch !== null;
  }

  /**
   * Moves on each time the watch is (re)opened: what was confirmed under an older epoch may
   * have missed an update.
   *
   * @returns The current epoch.
   */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * How many times the watch was opened.
   *
   * @returns The count.
   */
  get opens(): number {
    return this.#opens;
  }

  /**
   * Listen to the connection's status and open the watch.
   *
   * @returns When the watch is open.
   * @throws {Error} The bucket's error when the watch cannot be opened (the watch is then
   * closed).
   */
  async start(): Promise<void> {
    this.#started = true;
    this.#connected = true;
    if (this.#connection) {
      const it = this.#connection.status();
      this.#statusIter = it;
      this.#statusLoop = this.#runStatusLoop(it);
    }
    try {
      await this.#openWatch();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /**
   * Stop the watch and the status listener.
   *
   * @returns When the background loops have ended.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryWake?.();
    const watch = this.#watch;
    this.#watch = null;
    watch?.stop();
    (this.#statusIter as { stop?: () => void } | null)?.stop?.();
    await Promise.allSettled([this.#watchLoop, this.#statusLoop, this.#opening]);
  }

  async #openWatch(): Promise<void> {
    const iter = await this.#kv.watch({
      key: `${API_KEYS_KV_PREFIX}>`,
      include: KvWatchInclude.UpdatesOnly,
    });
    if (this.#closed) {
      iter.stop();
      return;
    }
    this.#opens++;
    this.#watch = iter;
    // Entries confirmed before this point may have missed updates: re-check them once.
    this.#epoch++;
    this.#watchLoop = (async () => {
      try {
        for await (const entry of iter) this.#onEntry(entry);
      } catch {
        // The watch broke; it is re-opened below.
      }
      if (this.#watch === iter) {
        this.#watch = null;
        this.#reopenWatch();
      }
    })();
  }

  #reopenWatch(): void {
    if (this.#closed) return;
    if (this.#opening) {
      // A reconnect during an open: open once more afterwards so no update is missed.
      this.#reopenPending = true;
      return;
    }
    const old = this.#watch;
    this.#watch = null;
    old?.stop();
    this.#opening = (async () => {
      while (!this.#closed && this.#watch === null) {
        try {
          await this.#openWatch();
        } catch {
          await new Promise<void>((resolve) => {
            this.#retryWake = resolve;
            this.#retryTimer = setTimeout(resolve, this.#retryMs);
          });
        }
      }
    })().finally(() => {
      this.#opening = null;
      if (this.#reopenPending && !this.#closed) {
        this.#reopenPending = false;
        this.#reopenWatch();
      }
    });
  }

  async #runStatusLoop(it: AsyncIterable<ConnectionStatusEvent>): Promise<void> {
    try {
      for await (const s of it) {
        if (this.#closed) break;
        switch (s.type) {
          case "disconnect":
          case "reconnecting":
          case "staleConnection":
          case "close":
            this.#connected = false;
            break;
          case "reconnect":
            this.#connected = true;
            this.#reopenWatch();
            break;
          default:
            break;
        }
      }
    } catch {
      // The status stream ended with the connection.
    }
    this.#connected = false;
  }
}
