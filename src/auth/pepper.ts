/**
 * The pepper check: the auth bucket holds a fingerprint of the pepper the API keys were made
 * with, so a gateway or admin CLI with a different `PYOCO_AUTH_PEPPER` finds out at start
 * instead of answering 403 to every key.
 *
 * - The fingerprint is `HMAC-SHA256(key = UTF-8(pepper), message = PEPPER_FINGERPRINT_LABEL)`,
 *   base64url without padding: it identifies the pepper without revealing it. (It is a fast
 *   hash, so a short pepper could be guessed from it offline: use a long random pepper.)
 * - It is stored as JSON at KV key {@linkcode PEPPER_FINGERPRINT_KV_KEY} of the auth bucket,
 *   outside `api_keys.*`, so key listings and the revocation watch never see it. An empty pepper
 *   is recorded as `pepper_set: false` (no fingerprint).
 * - The first process that checks with `record: true` writes it (KV create, so two first
 *   starters cannot both win); everyone later compares against it. It is never replaced
 *   implicitly (a gateway running with the recorded pepper would silently stop accepting new
 *   keys); {@linkcode recordPepper} replaces it on purpose (`pyoco-admin api-key pepper-reset`).
 *
 * Web Crypto only. The pepper never appears in a record, an error or a log.
 *
 * @module
 */

import { PepperMismatchError } from "./errors.ts";
import { timingSafeEqual } from "./keys.ts";

/** KV key of the pepper fingerprint in the auth bucket. */
export const PEPPER_FINGERPRINT_KV_KEY = "meta.pepper_fingerprint";

/** The fixed message the pepper keys the fingerprint HMAC over. */
export const PEPPER_FINGERPRINT_LABEL = "pyoco-server auth pepper fingerprint v1";

/** The stored record at {@linkcode PEPPER_FINGERPRINT_KV_KEY}. */
export interface PepperFingerprintRecord {
  /** Record format version, `1`. */
  version: 1;
  /** Whether the keys were made with a non-empty pepper. */
  pepper_set: boolean;
  /** HMAC-SHA256 of the label keyed by the pepper, base64url; `null` when no pepper. */
  hmac_sha256_b64: string | null;
  /** When it was recorded, unix seconds. */
  created_at: number;
}

/**
 * The part of a KV bucket handle the pepper check uses (the auth bucket's `KV` from
 * `@nats-io/kv` fits).
 */
export interface PepperBucket {
  /**
   * Read a key.
   *
   * @param key The key.
   * @returns Its entry, or `null`.
   */
  get(key: string): Promise<{ operation: string; json<T>(): T } | null>;
  /**
   * Create a key; fails when it exists.
   *
   * @param key The key.
   * @param value The value.
   * @returns The new revision.
   */
  create(key: string, value: string): Promise<number>;
  /**
   * Write a key.
   *
   * @param key The key.
   * @param value The value.
   * @returns The new revision.
   */
  put(key: string, value: string): Promise<number>;
}

/** Options of {@linkcode checkPepper}. */
export interface CheckPepperOptions {
  /** This process's `PYOCO_AUTH_PEPPER` (`""` = none). */
  pepper: string;
  /** Names this process in the error message (`"gateway"`, `"admin CLI"`). */
  who: string;
  /** The auth bucket's name, for the error message. */
  bucket: string;
  /**
   * Write this pepper's fingerprint when the bucket has none yet.
   * @default {false}
   */
  record?: boolean;
}

/** What {@linkcode checkPepper} found. */
export type PepperCheck =
  /** The bucket's fingerprint matches this pepper. */
  | "matched"
  /** The bucket had none; this pepper's fingerprint was written. */
  | "recorded"
  /** The bucket has none and `record` was false. */
  | "unrecorded";

/**
 * The fingerprint of a pepper.
 *
 * @param pepper The pepper.
 * @returns HMAC-SHA256 of {@linkcode PEPPER_FINGERPRINT_LABEL} keyed by the pepper, base64url
 * without padding; `null` for the empty pepper.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pepperFingerprint } from "./pepper.ts";
 * assert.equal(await pepperFingerprint(""), null);
 * const a = await pepperFingerprint("s3cret-pepper");
 * assert.equal(a, await pepperFingerprint("s3cret-pepper"));
 * assert.notEqual(a, await pepperFingerprint("other-pepper"));
 * assert.ok(!a!.includes("s3cret"));
 * ```
 */
export async function pepperFingerprint(pepper: string): Promise<string | null> {
  if (pepper === "") return null;
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(pepper),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, enc.encode(PEPPER_FINGERPRINT_LABEL)),
  );
  return btoa(String.fromCharCode(...mac)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/**
 * Compare this process's pepper with the one the bucket's keys were made with, and record it
 * when the bucket has none and `record` is set.
 *
 * @param kv The auth bucket.
 * @param options Pepper, who is checking (for the message), bucket name, whether to record.
 * @returns `matched`, `recorded` or `unrecorded`.
 * @throws {PepperMismatchError} When the peppers differ (the message says which side).
 * @throws {Error} The bucket's error when KV cannot be read or written.
 *
 * @example
 * ```ts ignore
 * await checkPepper(authKv, { pepper: config.authPepper, who: "gateway", bucket: "pyoco_auth", record: true });
 * ```
 */
export async function checkPepper(
  kv: PepperBucket,
  options: CheckPepperOptions,
): Promise<PepperCheck> {
  const mine = await pepperFingerprint(options.pepper);
  let stored = await _read(kv);
  if (stored === null) {
    if (!options.record) return "unrecorded";
    try {
      await kv.create(PEPPER_FINGERPRINT_KV_KEY, _recordJson(mine));
      return "recorded";
    } catch (err) {
      // Another process recorded first (create fails on an existing key): compare with theirs.
      stored = await _read(kv);
      if (stored === null) throw err;
    }
  }
  const mismatch = _compare(mine, stored);
  if (mismatch === null) return "matched";
  throw new PepperMismatchError(mismatch, { who: options.who, bucket: options.bucket });
}

/**
 * Record a pepper's fingerprint, replacing any recorded one. For an operator changing the
 * pepper on purpose (keys made with the old pepper stop working on gateways with the new one).
 *
 * @param kv The auth bucket.
 * @param pepper The pepper to record (`""` = none).
 * @returns When it is written.
 * @throws {Error} The bucket's error when KV cannot be written.
 *
 * @example
 * ```ts ignore
 * await recordPepper(authKv, config.authPepper);
 * ```
 */
export async function recordPepper(kv: PepperBucket, pepper: string): Promise<void> {
  await kv.put(PEPPER_FINGERPRINT_KV_KEY, _recordJson(await pepperFingerprint(pepper)));
}

function _recordJson(mac: string | null): string {
  const record: PepperFingerprintRecord = {
    version: 1,
    pepper_set: mac !== null,
    hmac_sha256_b64: mac,
    created_at: Date.now() / 1000,
  };
  return JSON.stringify(record);
}

function _compare(
  mine: string | null,
  stored: PepperFingerprintRecord,
): "differs" | "empty_here" | "empty_there" | null {
  if (mine === null) return stored.pepper_set ? "empty_here" : null;
  if (!stored.pepper_set || stored.hmac_sha256_b64 === null) return "empty_there";
  const enc = new TextEncoder();
  return timingSafeEqual(enc.encode(mine), enc.encode(stored.hmac_sha256_b64)) ? null : "differs";
}

async function _read(
  kv: PepperBucket,
): Promise<PepperFingerprintRecord | null> {
  const entry = await kv.get(PEPPER_FINGERPRINT_KV_KEY);
  if (!entry || entry.operation !== "PUT") return null;
  let value: unknown;
  try {
    value = entry.json();
  } catch {
    value = null;
  }
  const v = value as Partial<PepperFingerprintRecord> | null;
  // An unreadable record counts as "recorded without a pepper": compared, never ignored.
  const valid = v !== null && typeof v === "object" && typeof v.pepper_set === "boolean";
  const mac = valid && typeof v.hmac_sha256_b64 === "string" ? v.hmac_sha256_b64 : null;
  return {
    version: 1,
    pepper_set: valid ? v.pepper_set! : false,
    hmac_sha256_b64: mac,
    created_at: valid ? Number(v.created_at) || 0 : 0,
  };
}
