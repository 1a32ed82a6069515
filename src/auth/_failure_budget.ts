/**
 * The per-key-id failure budget of the verifier: a token bucket (`burst` tokens, refilled at
 * `refillPerSec`) charged before a PBKDF2 derivation and refunded on success, so a flood of wrong
 * secrets for one key id costs at most `burst` derivations plus the refill. Private to
 * `src/auth/`.
 *
 * @module
 */

import { _Lru } from "./_lru.ts";

interface _Bucket {
  tokens: number;
  at: number;
}

/** Token buckets per key id, bounded by an LRU. */
export class _FailureBudget {
  readonly #burst: number;
  readonly #refillPerMs: number;
  readonly #buckets: _Lru<string, _Bucket>;

  /**
   * @param size Most key ids remembered.
   * @param options `burst` tokens per key id, refilled at `refillPerSec`.
   */
  constructor(size: number, options: { burst: number; refillPerSec: number }) {
    this.#burst = options.burst;
    this.#refillPerMs = options.refillPerSec / 1000;
    this.#buckets = new _Lru(size);
  }

  /**
   * Whether a derivation for this key id may be tried (without charging).
   *
   * @param keyId The key id.
   * @returns `false` when the budget is spent.
   */
  has(keyId: string): boolean {
    const bucket = this.#refilled(keyId);
    return bucket === undefined || bucket.tokens >= 1;
  }

  /**
   * Charge one token.
   *
   * @param keyId The key id.
   * @returns `false` (and nothing charged) when the budget is spent.
   */
  take(keyId: string): boolean {
    const bucket = this.#refilled(keyId) ?? { tokens: this.#burst, at: Date.now() };
    this.#buckets.set(keyId, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /**
   * Give back the token of a derivation that succeeded.
   *
   * @param keyId The key id.
   */
  refund(keyId: string): void {
    const bucket = this.#buckets.peek(keyId);
    if (bucket) bucket.tokens = Math.min(this.#burst, bucket.tokens + 1);
  }

  #refilled(keyId: string): _Bucket | undefined {
    const bucket = this.#buckets.get(keyId);
    if (!bucket) return undefined;
    const now = Date.now();
    bucket.tokens = Math.min(
      this.#burst,
      bucket.tokens + Math.max(0, now - bucket.at) * this.#refillPerMs,
    );
    bucket.at = now;
    return bucket;
  }
}
