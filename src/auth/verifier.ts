/**
 * {@linkcode ApiKeyVerifier}: the gateway's per-request API key check, with a cache so that a
 * 200k-iteration PBKDF2 is paid once per key and gateway, and a KV watch so that revocation is
 * effective within 1 s.
 *
 * How it decides, in order, and what it costs:
 *
 * 1. Missing key → `missing`; malformed key → `malformed`. No KV access, no hashing.
 * 2. Positive cache, keyed by SHA-256 of the **whole** presented key (a different secret for the
 *    same key id is a miss). A hit is trusted without KV while the watch is healthy and the
 *    entry was confirmed since the watch was (re)opened; otherwise it is trusted for
 *    `staleAfterMs` (1 s) after its last confirmation and then re-checked with one `kv.get`
 *    (no PBKDF2): same salt/hash/tenant and not revoked → refreshed. Every entry is re-checked
 *    after `maxTrustMs` regardless (defence in depth).
 * 3. Negative answers: a wrong secret is remembered per presented-key digest for `negativeTtlMs`;
 *    revoked key ids are remembered (revocation is permanent); unknown key ids are remembered for
 *    `negativeTtlMs` only while the watch is healthy (a creation event clears it).
 * 4. Identical concurrent checks share one computation.
 * 5. Otherwise one `kv.get` (bounded by `lookupTimeoutMs`; failure →
 *    {@linkcode ApiKeyStoreUnavailableError}, which the gateway answers with 503). Unknown key id
 *    → `unknown` and revoked → `revoked`, both without PBKDF2. Then a per-key-id failure budget
 *    (token bucket: `failureBurst` tokens, refilled at `failureRefillPerSec`) is charged *before*
 *    hashing and refunded on success, so a flood of wrong secrets for one key id costs at most
 *    `failureBurst` derivations plus the refill; beyond it the answer is an immediate
 *    `wrong_secret` with `throttled: true`, without hashing and without KV. At most `maxConcurrentDerivations` PBKDF2 run at once.
 *
 * Health of the revocation watch is decided by {@linkcode RevocationWatch}
 * (`revocation_watch.ts`): healthy only while it is open and a `connection` reports no
 * disconnect since it was (re)opened. Without a `connection` the watch still invalidates entries
 * at once, but cached entries are also re-checked with `kv.get` every `staleAfterMs`. While NATS
 * is down, cached keys keep working for at most `staleAfterMs`, then verification throws
 * {@linkcode ApiKeyStoreUnavailableError} (fail closed). The failure budget is
 * `_failure_budget.ts`.
 *
 * Trade-offs: an unknown key id answers faster than a wrong secret (no PBKDF2), which tells a
 * caller whether a key id exists; key ids are 96-bit random identifiers that also appear in run
 * records, not secrets, and the secret's 256 bits are what protect a key. A flood of wrong secrets
 * against one key id also throttles the *right* secret on gateways that have not cached it yet
 * (they answer 403 until the budget refills) — the price of not burning CPU.
 *
 * The pepper is never logged and never part of an error.
 *
 * @module
 */

import type { KV, KvWatchEntry } from "@nats-io/kv";
import { sha256Hex } from "../contract/_util.ts";
import { type ApiKeyRecord, parseApiKey, parseApiKeyRecord, verifySecret } from "./keys.ts";
import { API_KEYS_KV_PREFIX, apiKeyKvKey } from "./store.ts";
import { ApiKeyStoreUnavailableError, InvalidAuthOptionError } from "./errors.ts";
import { _Lru } from "./_lru.ts";
import { _FailureBudget } from "./_failure_budget.ts";
import { type ConnectionStatusSource, RevocationWatch } from "./revocation_watch.ts";

export type { ConnectionStatusEvent, ConnectionStatusSource } from "./revocation_watch.ts";

/** Why a key was refused. */
export type ApiKeyFailureReason = "missing" | "malformed" | "unknown" | "revoked" | "wrong_secret";

/** Result of {@linkcode ApiKeyVerifier.verify}. */
export type ApiKeyVerification =
  | {
    /** Accepted. */
    ok: true;
    /** The key's id (for `api_key_id` on runs and for logs). */
    keyId: string;
    /** The key's tenant. */
    tenantId: string;
  }
  | {
    /** Refused. */
    ok: false;
    /** `missing` → 401; every other reason → 403. */
    reason: ApiKeyFailureReason;
    /** Set when the answer came from the failure budget without hashing. */
    throttled?: true;
  };

/** Options of {@linkcode ApiKeyVerifier}. */
export interface ApiKeyVerifierOptions {
  /**
   * Pepper appended to secrets (`PYOCO_AUTH_PEPPER`); must equal the store's.
   * @default {""}
   */
  pepper?: string;
  /**
   * The NATS connection behind `kv` (its status events drive watch health). Without it the
   * watch never counts as healthy and cached entries are re-checked every `staleAfterMs`.
   */
  connection?: ConnectionStatusSource;
  /**
   * Maximum entries in each in-memory cache.
   * @default {10000}
   */
  cacheSize?: number;
  /**
   * How long a cached success is trusted without KV when the watch is not healthy.
   * @default {1000}
   */
  staleAfterMs?: number;
  /**
   * Cached successes are re-checked with `kv.get` at least this often, healthy or not.
   * @default {300000}
   */
  maxTrustMs?: number;
  /**
   * How long a wrong secret (per presented key) or an unknown key id is remembered.
   * @default {5000}
   */
  negativeTtlMs?: number;
  /**
   * Deadline of one `kv.get`.
   * @default {2000}
   */
  lookupTimeoutMs?: number;
  /**
   * PBKDF2 computations allowed at once.
   * @default {2}
   */
  maxConcurrentDerivations?: number;
  /**
   * Failed derivations allowed per key id before throttling.
   * @default {5}
   */
  failureBurst?: number;
  /**
   * Failure budget refill per key id, tokens per second.
   * @default {0.2}
   */
  failureRefillPerSec?: number;
  /**
   * Delay between attempts to re-open a broken watch.
   * @default {500}
   */
  watchRetryMs?: number;
}

/** Counters of an {@linkcode ApiKeyVerifier} (for tests and metrics). */
export interface ApiKeyVerifierStats {
  /** PBKDF2 computations performed. */
  derivations: number;
  /** Successes answered from the cache without KV. */
  cacheHits: number;
  /** Cached successes re-checked with `kv.get` (no PBKDF2). */
  rechecks: number;
  /** `kv.get` calls. */
  kvLookups: number;
  /** Refusals answered from memory (wrong secret, unknown or revoked) without KV. */
  negativeHits: number;
  /** `wrong_secret` answers given by the failure budget without hashing. */
  throttled: number;
  /** Checks that shared an identical in-flight check. */
  coalesced: number;
  /** KV watch events received. */
  watchEvents: number;
  /** Times the watch was opened. */
  watchOpens: number;
  /** Stored records that were not valid (treated as unknown). */
  invalidRecords: number;
}

interface _Positive {
  keyId: string;
  tenantId: string;
  saltB64: string;
  hashB64: string;
  epoch: number;
  confirmedAt: number;
}

interface _Negative {
  keyId: string;
  until: number;
}

const _MISSING: ApiKeyVerification = { ok: false, reason: "missing" };
const _MALFORMED: ApiKeyVerification = { ok: false, reason: "malformed" };
const _UNKNOWN: ApiKeyVerification = { ok: false, reason: "unknown" };
const _REVOKED: ApiKeyVerification = { ok: false, reason: "revoked" };
const _WRONG: ApiKeyVerification = { ok: false, reason: "wrong_secret" };
const _THROTTLED: ApiKeyVerification = { ok: false, reason: "wrong_secret", throttled: true };

/**
 * Verifies presented API keys against the auth KV bucket, with caching, revocation through a KV
 * watch and a bounded cost for wrong keys (see the module documentation for the rules).
 *
 * @example
 * ```ts ignore
 * const verifier = new ApiKeyVerifier(kv, { pepper, connection: nc });
 * await verifier.start();
 * const result = await verifier.verify(req.headers.get("X-API-Key"));
 * if (!result.ok) return result.reason === "missing" ? status401() : status403();
 * await verifier.close();
 * ```
 */
export class ApiKeyVerifier {
  readonly #kv: KV;
  readonly #pepper: string;
  readonly #staleAfterMs: number;
  readonly #maxTrustMs: number;
  readonly #negativeTtlMs: number;
  readonly #lookupTimeoutMs: number;
  readonly #watch: RevocationWatch;

  readonly #positive: _Lru<string, _Positive>;
  readonly #wrong: _Lru<string, _Negative>;
  readonly #unknown: _Lru<string, number>;
  readonly #revoked: _Lru<string, true>;
  readonly #budget: _FailureBudget;
  readonly #inflight = new Map<string, Promise<ApiKeyVerification>>();
  readonly #semaphore: _Semaphore;

  #started = false;
  #closed = false;
  #eventSeq = 0;
  readonly #stats: ApiKeyVerifierStats = {
    derivations: 0,
    cacheHits: 0,
    rechecks: 0,
    kvLookups: 0,
    negativeHits: 0,
    throttled: 0,
    coalesced: 0,
    watchEvents: 0,
    watchOpens: 0,
    invalidRecords: 0,
  };

  /**
   * Create a verifier; call {@linkcode ApiKeyVerifier.start} before serving.
   *
   * @param kv The auth bucket (`pyoco_auth`).
   * @param options Pepper, connection and limits.
   * @throws {InvalidAuthOptionError} When an option is out of range.
   */
  constructor(kv: KV, options: ApiKeyVerifierOptions = {}) {
    if (!kv || typeof kv.get !== "function" || typeof kv.watch !== "function") {
      throw new InvalidAuthOptionError("kv", "must be a KV bucket handle");
    }
    if (options.pepper !== undefined && typeof options.pepper !== "string") {
      throw new InvalidAuthOptionError("pepper", "must be a string");
    }
    if (options.connection !== undefined && typeof options.connection.status !== "function") {
      throw new InvalidAuthOptionError("connection", "must have a status() method");
    }
    const cacheSize = _int("cacheSize", options.cacheSize ?? 10_000, 1);
    this.#kv = kv;
    this.#pepper = options.pepper ?? "";
    this.#staleAfterMs = _int("staleAfterMs", options.staleAfterMs ?? 1_000, 0);
    this.#maxTrustMs = _int("maxTrustMs", options.maxTrustMs ?? 300_000, 0);
    this.#negativeTtlMs = _int("negativeTtlMs", options.negativeTtlMs ?? 5_000, 0);
    this.#lookupTimeoutMs = _int("lookupTimeoutMs", options.lookupTimeoutMs ?? 2_000, 1);
    const burst = _int("failureBurst", options.failureBurst ?? 5, 1);
    const refill = options.failureRefillPerSec ?? 0.2;
    if (typeof refill !== "number" || !Number.isFinite(refill) || refill < 0) {
      throw new InvalidAuthOptionError("failureRefillPerSec", "must be a number >= 0");
    }
    this.#watch = new RevocationWatch(kv, {
      connection: options.connection,
      retryMs: _int("watchRetryMs", options.watchRetryMs ?? 500, 1),
      onEntry: (entry) => this.#onWatchEntry(entry),
    });
    this.#semaphore = new _Semaphore(
      _int("maxConcurrentDerivations", options.maxConcurrentDerivations ?? 2, 1),
    );
    this.#positive = new _Lru(cacheSize);
    this.#wrong = new _Lru(cacheSize);
    this.#unknown = new _Lru(cacheSize);
    this.#revoked = new _Lru(cacheSize);
    this.#budget = new _FailureBudget(cacheSize, { burst, refillPerSec: refill });
  }

  /**
   * Whether the revocation watch is known to be live (see the module documentation).
   *
   * @returns `true` when cached successes may be trusted without KV.
   */
  get healthy(): boolean {
    return this.#watch.healthy;
  }

  /**
   * A copy of the counters.
   *
   * @returns The counters.
   */
  stats(): ApiKeyVerifierStats {
    return { ...this.#stats, watchOpens: this.#watch.opens };
  }

  /**
   * Open the KV watch on `api_keys.>` (and listen to the connection's status). Call once
   * before serving; later breaks are repaired in the background.
   *
   * @returns When the watch is open.
   * @throws {ApiKeyStoreUnavailableError} When the watch cannot be opened.
   * @throws {InvalidAuthOptionError} When called twice or after {@linkcode ApiKeyVerifier.close}.
   */
  async start(): Promise<void> {
    if (this.#started || this.#closed) {
      throw new InvalidAuthOptionError("start", "the verifier was already started or closed");
    }
    this.#started = true;
    try {
      await this.#watch.start();
    } catch (err) {
      this.#closed = true;
      throw new ApiKeyStoreUnavailableError("watch", { cause: err });
    }
  }

  /**
   * Stop the watch and the status listener. Verification keeps working afterwards, but cached
   * successes are then re-checked with KV every `staleAfterMs`.
   *
   * @returns When the background loops have ended.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#watch.close();
  }

  /**
   * Check a presented key.
   *
   * @param apiKey The header value, or `null`/`undefined` when absent.
   * @returns `{ ok: true, keyId, tenantId }` or `{ ok: false, reason }`.
   * @throws {ApiKeyStoreUnavailableError} When the record had to be read and KV did not answer
   * within `lookupTimeoutMs` (the gateway answers 503).
   */
  async verify(apiKey: string | null | undefined): Promise<ApiKeyVerification> {
    if (apiKey === null || apiKey === undefined || apiKey === "") return _MISSING;
    let keyId: string;
    let secret: string;
    try {
      ({ keyId, secret } = parseApiKey(apiKey));
    } catch {
      return _MALFORMED;
    }
    const digest = await sha256Hex(apiKey);
    const now = Date.now();
    const hit = this.#positive.get(digest);
    if (hit && this.#trusted(hit, now)) {
      this.#stats.cacheHits++;
      return { ok: true, keyId: hit.keyId, tenantId: hit.tenantId };
    }
    const wrong = this.#wrong.peek(digest);
    if (wrong && wrong.until > now) {
      this.#stats.negativeHits++;
      return _WRONG;
    }
    if (this.#revoked.peek(keyId)) {
      this.#stats.negativeHits++;
      return _REVOKED;
    }
    const running = this.#inflight.get(digest);
    if (running) {
      this.#stats.coalesced++;
      return running;
    }
    const check = this.#check(keyId, secret, digest, hit).finally(() => {
      this.#inflight.delete(digest);
    });
    this.#inflight.set(digest, check);
    return check;
  }

  async #check(
    keyId: string,
    secret: string,
    digest: string,
    hit: _Positive | undefined,
  ): Promise<ApiKeyVerification> {
    const startedAt = Date.now();
    const epoch = this.#watch.epoch;
    const seq = this.#eventSeq;
    const healthyAtStart = this.healthy;
    const unchanged = () => this.#eventSeq === seq;

    const unknownUntil = this.#unknown.peek(keyId);
    if (unknownUntil !== undefined && unknownUntil > startedAt) {
      this.#stats.negativeHits++;
      return _UNKNOWN;
    }
    if (!hit && !this.#budget.has(keyId)) {
      // Budget spent by earlier failures: answer without KV and without hashing.
      this.#stats.throttled++;
      return _THROTTLED;
    }
    const record = await this.#lookup(keyId);
    if (!record) {
      this.#positive.delete(digest);
      if (unchanged() && healthyAtStart && this.healthy) {
        this.#unknown.set(keyId, Date.now() + this.#negativeTtlMs);
      }
      return _UNKNOWN;
    }
    if (record.revoked_at !== null) {
      this.#revoked.set(keyId, true);
      this.#dropKey(keyId);
      return _REVOKED;
    }
    if (
      hit && hit.tenantId === record.tenant_id && hit.saltB64 === record.salt_b64 &&
      hit.hashB64 === record.hash_b64
    ) {
      this.#stats.rechecks++;
      if (unchanged()) this.#positive.set(digest, { ...hit, epoch, confirmedAt: startedAt });
      return { ok: true, keyId, tenantId: record.tenant_id };
    }
    if (hit) this.#positive.delete(digest);

    if (!this.#budget.take(keyId)) {
      this.#stats.throttled++;
      return _THROTTLED;
    }
    await this.#semaphore.acquire();
    let ok: boolean;
    try {
      this.#stats.derivations++;
      ok = await verifySecret(record, secret, { pepper: this.#pepper });
    } finally {
      this.#semaphore.release();
    }
    if (ok) {
      this.#budget.refund(keyId);
      if (unchanged()) {
        this.#positive.set(digest, {
          keyId,
          tenantId: record.tenant_id,
          saltB64: record.salt_b64,
          hashB64: record.hash_b64,
          epoch,
          confirmedAt: startedAt,
        });
      }
      return { ok: true, keyId, tenantId: record.tenant_id };
    }
    if (unchanged()) this.#wrong.set(digest, { keyId, until: Date.now() + this.#negativeTtlMs });
    return _WRONG;
  }

  #trusted(entry: _Positive, now: number): boolean {
    const age = now - entry.confirmedAt;
    if (age < 0 || age >= this.#maxTrustMs) return false;
    if (this.healthy && entry.epoch === this.#watch.epoch) return true;
    return age < this.#staleAfterMs;
  }

  async #lookup(keyId: string): Promise<ApiKeyRecord | null> {
    this.#stats.kvLookups++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`KV get did not answer within ${this.#lookupTimeoutMs} ms`)),
        this.#lookupTimeoutMs,
      );
    });
    let entry;
    try {
      entry = await Promise.race([this.#kv.get(apiKeyKvKey(keyId)), deadline]);
    } catch (err) {
      throw new ApiKeyStoreUnavailableError("get", { cause: err });
    } finally {
      clearTimeout(timer);
    }
    if (!entry || entry.operation !== "PUT") return null;
    try {
      const record = parseApiKeyRecord(entry.json());
      if (record.key_id !== keyId) throw new Error("key_id does not match the KV key");
      return record;
    } catch {
      this.#stats.invalidRecords++;
      return null;
    }
  }

  #dropKey(keyId: string): void {
    this.#positive.deleteWhere((v) => v.keyId === keyId);
    this.#wrong.deleteWhere((v) => v.keyId === keyId);
    this.#unknown.delete(keyId);
  }

  #onWatchEntry(entry: KvWatchEntry): void {
    this.#stats.watchEvents++;
    this.#eventSeq++;
    if (!entry.key.startsWith(API_KEYS_KV_PREFIX)) return;
    const keyId = entry.key.slice(API_KEYS_KV_PREFIX.length);
    this.#dropKey(keyId);
    let revoked = false;
    if (entry.operation === "PUT") {
      try {
        revoked = parseApiKeyRecord(entry.json()).revoked_at !== null;
      } catch {
        this.#stats.invalidRecords++;
      }
    }
    if (revoked) this.#revoked.set(keyId, true);
    else this.#revoked.delete(keyId);
  }
}

class _Semaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}

function _int(option: string, value: number, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new InvalidAuthOptionError(option, `must be an integer >= ${min}`);
  }
  return value;
}
