/**
 * A lease in a KV bucket: at most one holder at a time for a cluster-wide chore (the run
 * sweeper), taken over when its holder stops renewing it. The expiry travels in the value and
 * every change is compare-and-set on the key's revision, so two processes can never both believe
 * they hold it at the same instant — apart from clock skew between them, which the expiry margin
 * (a holder renews every `ttlSec / 2`) absorbs.
 *
 * @module
 */

import type { KV } from "@nats-io/kv";

/** The stored lease. */
export interface LeaseRecord {
  /** Who holds it. */
  holder: string;
  /** Unix seconds after which anyone may take it over. */
  expires_at: number;
}

/** Options of {@linkcode KvLease}. */
export interface KvLeaseOptions {
  /** The KV key of the lease, e.g. `sweeper`. */
  key: string;
  /** This process's name (unique per process). */
  holder: string;
  /** How long a taken or renewed lease lasts, in seconds. */
  ttlSec: number;
  /** The clock, in unix seconds. @default {() => Date.now() / 1000} */
  now?: () => number;
}

/**
 * One process's view of a lease.
 *
 * @example Usage
 * ```ts ignore
 * const lease = new KvLease(kv, { key: "sweeper", holder: "gw-1", ttlSec: 20 });
 * if (await lease.tryHold()) await sweep(); // call every ttlSec / 2
 * ```
 */
export class KvLease {
  readonly #kv: KV;
  readonly #key: string;
  readonly #holder: string;
  readonly #ttlSec: number;
  readonly #now: () => number;

  /**
   * Make the view (nothing is written yet).
   *
   * @param kv The bucket.
   * @param options Key, holder name, lease length and clock.
   * @throws {RangeError} When `ttlSec` is not positive.
   */
  constructor(kv: KV, options: KvLeaseOptions) {
    if (!(options.ttlSec > 0)) {
      throw new RangeError(
        `Invalid option "ttlSec" of KvLease: expected > 0, got ${options.ttlSec}`,
      );
    }
    this.#kv = kv;
    this.#key = options.key;
    this.#holder = options.holder;
    this.#ttlSec = options.ttlSec;
    this.#now = options.now ?? (() => Date.now() / 1000);
  }

  /**
   * Take the lease if it is free or lapsed, or renew it if this process holds it.
   *
   * @returns Whether this process holds the lease now (for the next `ttlSec`).
   * @throws {Error} The nats.js error when the bucket cannot be read.
   */
  async tryHold(): Promise<boolean> {
    const record: LeaseRecord = { holder: this.#holder, expires_at: this.#now() + this.#ttlSec };
    const bytes = new TextEncoder().encode(JSON.stringify(record));
    const entry = await this.#kv.get(this.#key);
    try {
      if (entry === null || entry.operation !== "PUT" || entry.length === 0) {
        if (entry === null) await this.#kv.create(this.#key, bytes);
        else await this.#kv.update(this.#key, bytes, entry.revision);
        return true;
      }
      const current = _parse(entry.string());
      if (current !== null && current.holder !== this.#holder && current.expires_at > this.#now()) {
        return false;
      }
      await this.#kv.update(this.#key, bytes, entry.revision);
      return true;
    } catch {
      return false; // another process changed it first: it holds the lease
    }
  }

  /**
   * Give the lease up at once if this process holds it (best effort), so another holder need
   * not wait for it to lapse.
   */
  async release(): Promise<void> {
    const entry = await this.#kv.get(this.#key).catch(() => null);
    if (entry === null || entry.operation !== "PUT") return;
    if (_parse(entry.string())?.holder !== this.#holder) return;
    await this.#kv.delete(this.#key, { previousSeq: entry.revision }).catch(() => {});
  }
}

function _parse(text: string): LeaseRecord | null {
  try {
    const v = JSON.parse(text);
    return typeof v?.holder === "string" && typeof v?.expires_at === "number" ? v : null;
  } catch {
    return null;
  }
}
