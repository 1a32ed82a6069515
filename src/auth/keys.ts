/**
 * API keys and their stored records, compatible with pyoco-server 0.4 (`pyoco_server/auth.py`).
 *
 * - Key text: `pyoco_<key_id>.<secret>`; generated key ids are 24 lowercase hex characters
 *   (12 random bytes), secrets are 32 random bytes in base64url without padding. Parsing accepts
 *   what pyoco-server accepts: key id `[A-Za-z0-9_-]{8,64}`, secret `[A-Za-z0-9_-]{16,256}`.
 * - Record (JSON at KV key `api_keys.<key_id>`): `key_id, tenant_id, kdf
 *   ("pbkdf2_hmac_sha256"), iterations (200000), salt_b64, hash_b64, created_at, revoked_at`
 *   (+ optional `label`, ignored by pyoco-server). `hash = PBKDF2-HMAC-SHA256(UTF-8(secret +
 *   pepper), salt (16 random bytes), iterations, 32 bytes)`. Times are unix seconds (float),
 *   `revoked_at` is `null` while active.
 * - `salt_b64`/`hash_b64` are **written** as base64url without padding, exactly as pyoco-server
 *   writes them, and **read** in either alphabet (standard or url-safe), padded or not — so records
 *   travel both ways.
 * - Tenant ids follow pyoco-server: `[A-Za-z0-9_-]{1,64}` (no dots, so they are safe in subjects
 *   and KV keys).
 *
 * Web Crypto only (no `Deno.*`, no `node:*`). Secrets and the pepper never appear in errors.
 *
 * @module
 */

import {
  ApiKeyFormatError,
  InvalidApiKeyLabelError,
  InvalidApiKeyRecordError,
  InvalidAuthOptionError,
  InvalidTenantIdError,
} from "./errors.ts";

/** Prefix of every API key. */
export const API_KEY_PREFIX = "pyoco_";

/** The only key derivation function in records. */
export const API_KEY_KDF = "pbkdf2_hmac_sha256";

/** PBKDF2 iterations of new records (pyoco-server's default). */
export const DEFAULT_PBKDF2_ITERATIONS = 200_000;

/** Largest iteration count accepted in records and options (bounds the cost of one check). */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

const _SALT_BYTES = 16;
const _SECRET_BYTES = 32;
const _KEY_ID_BYTES = 12;
const _DK_BYTES = 32;

const _RE_KEY_ID = /^[A-Za-z0-9_-]{8,64}$/;
const _RE_SECRET = /^[A-Za-z0-9_-]{16,256}$/;
const _RE_TENANT_ID = /^[A-Za-z0-9_-]{1,64}$/;
// deno-lint-ignore no-control-regex
const _RE_LABEL = /^[^\u0000-\u001f\u007f]{1,128}$/;
const _RE_B64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** A stored API key record, field for field as pyoco-server writes it (plus optional `label`). */
export interface ApiKeyRecord {
  /** Key id (the part between `pyoco_` and `.`). */
  key_id: string;
  /** Tenant the key belongs to. */
  tenant_id: string;
  /** Always `"pbkdf2_hmac_sha256"`. */
  kdf: typeof API_KEY_KDF;
  /** PBKDF2 iterations used for `hash_b64`. */
  iterations: number;
  /** Salt, base64 (written url-safe without padding). */
  salt_b64: string;
  /** Derived 32-byte hash, base64 (written url-safe without padding). */
  hash_b64: string;
  /** Creation time, unix seconds. */
  created_at: number;
  /** Revocation time, unix seconds; `null` while the key is active. */
  revoked_at: number | null;
  /** Optional human label (ignored by pyoco-server). */
  label?: string;
}

/** A record without `salt_b64`/`hash_b64`, safe to print (see {@linkcode publicView}). */
export interface ApiKeyPublicView {
  /** Key id. */
  key_id: string;
  /** Tenant id. */
  tenant_id: string;
  /** Label, when set. */
  label?: string;
  /** Key derivation function. */
  kdf: string;
  /** PBKDF2 iterations. */
  iterations: number;
  /** Creation time, unix seconds. */
  created_at: number;
  /** Revocation time, unix seconds, or `null`. */
  revoked_at: number | null;
  /** `revoked_at !== null`. */
  revoked: boolean;
}

/** A freshly generated key. `secret` and `apiKey` are shown once and never stored. */
export interface GeneratedApiKey {
  /** 24 lowercase hex characters. */
  keyId: string;
  /** 32 random bytes, base64url without padding. */
  secret: string;
  /** `pyoco_<keyId>.<secret>`. */
  apiKey: string;
}

/** The two parts of a presented key. */
export interface ParsedApiKey {
  /** Key id. */
  keyId: string;
  /** Secret. */
  secret: string;
}

/** Options of {@linkcode hashSecret}. */
export interface HashSecretOptions {
  /**
   * Appended to the secret before hashing (`PYOCO_AUTH_PEPPER`).
   * @default {""}
   */
  pepper?: string;
  /**
   * Salt to use; a fixed salt is for tests and vectors only.
   * @default {16 random bytes}
   */
  saltBytes?: Uint8Array;
  /**
   * PBKDF2 iterations, 1..10 000 000.
   * @default {200000}
   */
  iterations?: number;
}

/** The KDF fields of a record. */
export interface SecretHash {
  /** Always `"pbkdf2_hmac_sha256"`. */
  kdf: typeof API_KEY_KDF;
  /** Iterations used. */
  iterations: number;
  /** Salt, base64url without padding. */
  salt_b64: string;
  /** Derived hash, base64url without padding. */
  hash_b64: string;
}

/** Options of {@linkcode createApiKeyRecord}. */
export interface CreateApiKeyRecordOptions extends HashSecretOptions {
  /** Key id of the key (validated like {@linkcode parseApiKey} does). */
  keyId: string;
  /** Tenant id, `[A-Za-z0-9_-]{1,64}`. */
  tenantId: string;
  /** The key's secret (hashed, never stored). */
  secret: string;
  /** Optional label, 1-128 characters without control characters. */
  label?: string;
  /**
   * Creation time, unix seconds.
   * @default {Date.now() / 1000}
   */
  now?: number;
}

/** Options of {@linkcode verifySecret}. */
export interface VerifySecretOptions {
  /**
   * The pepper the record was hashed with.
   * @default {""}
   */
  pepper?: string;
}

const _encoder = new TextEncoder();

/**
 * Generate a new random API key (12 random bytes of key id, 32 of secret).
 *
 * @returns The key id, the secret and the full key text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateApiKey, parseApiKey } from "./keys.ts";
 * const { keyId, secret, apiKey } = generateApiKey();
 * assert.match(keyId, /^[0-9a-f]{24}$/);
 * assert.deepEqual(parseApiKey(apiKey), { keyId, secret });
 * ```
 */
export function generateApiKey(): GeneratedApiKey {
  const keyId = _hex(crypto.getRandomValues(new Uint8Array(_KEY_ID_BYTES)));
  const secret = _b64urlEncode(crypto.getRandomValues(new Uint8Array(_SECRET_BYTES)));
  return { keyId, secret, apiKey: `${API_KEY_PREFIX}${keyId}.${secret}` };
}

/**
 * Split a presented key `pyoco_<key_id>.<secret>` into its parts.
 *
 * @param text The presented key (e.g. the `X-API-Key` header value).
 * @returns The key id and the secret.
 * @throws {ApiKeyFormatError} When the text is not a well-formed key; the error never contains
 * the text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseApiKey } from "./keys.ts";
 * const parsed = parseApiKey("pyoco_0123456789abcdef01234567.AAECAwQFBgcICQoLDA0ODw");
 * assert.equal(parsed.keyId, "0123456789abcdef01234567");
 * assert.throws(() => parseApiKey("Bearer x"), { name: "ApiKeyFormatError" });
 * ```
 */
export function parseApiKey(text: string): ParsedApiKey {
  if (typeof text !== "string" || text === "") throw new ApiKeyFormatError("empty");
  if (!text.startsWith(API_KEY_PREFIX)) throw new ApiKeyFormatError("prefix");
  const dot = text.indexOf(".");
  if (dot < 0) throw new ApiKeyFormatError("separator");
  const keyId = text.slice(API_KEY_PREFIX.length, dot);
  const secret = text.slice(dot + 1);
  if (!_RE_KEY_ID.test(keyId)) throw new ApiKeyFormatError("key_id");
  if (!_RE_SECRET.test(secret)) throw new ApiKeyFormatError("secret");
  return { keyId, secret };
}

/**
 * Whether `keyId` is a valid key id (`[A-Za-z0-9_-]{8,64}`, the pyoco-server rule).
 *
 * @param keyId Candidate key id.
 * @returns `true` when valid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidKeyId } from "./keys.ts";
 * assert.equal(isValidKeyId("0123456789abcdef01234567"), true);
 * assert.equal(isValidKeyId("a.b"), false);
 * ```
 */
export function isValidKeyId(keyId: string): boolean {
  return typeof keyId === "string" && _RE_KEY_ID.test(keyId);
}

/**
 * Check a tenant id against `[A-Za-z0-9_-]{1,64}` (the pyoco-server rule).
 *
 * @param tenantId Candidate tenant id.
 * @returns The same tenant id.
 * @throws {InvalidTenantIdError} When it does not match.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateTenantId } from "./keys.ts";
 * assert.equal(validateTenantId("acme"), "acme");
 * assert.throws(() => validateTenantId("acme.corp"), { name: "InvalidTenantIdError" });
 * ```
 */
export function validateTenantId(tenantId: string): string {
  if (typeof tenantId !== "string" || !_RE_TENANT_ID.test(tenantId)) {
    throw new InvalidTenantIdError(String(tenantId));
  }
  return tenantId;
}

/**
 * Check an API key label: 1-128 characters, no control characters.
 *
 * @param label Candidate label.
 * @returns The same label.
 * @throws {InvalidApiKeyLabelError} When it is empty, too long or has control characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateApiKeyLabel } from "./keys.ts";
 * assert.equal(validateApiKeyLabel("ci deploys"), "ci deploys");
 * assert.throws(() => validateApiKeyLabel("a\nb"), { name: "InvalidApiKeyLabelError" });
 * ```
 */
export function validateApiKeyLabel(label: string): string {
  if (typeof label !== "string" || !_RE_LABEL.test(label)) {
    throw new InvalidApiKeyLabelError(String(label));
  }
  return label;
}

/**
 * Hash a secret: PBKDF2-HMAC-SHA256 over UTF-8(secret + pepper), 32-byte output.
 *
 * @param secret The key's secret.
 * @param options Pepper, salt and iterations.
 * @returns The record's KDF fields.
 * @throws {InvalidAuthOptionError} When the secret is empty, the salt is empty or the
 * iterations are out of range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashSecret } from "./keys.ts";
 * const h = await hashSecret("secret", {
 *   pepper: "pepper",
 *   saltBytes: new TextEncoder().encode("salt"),
 *   iterations: 1,
 * });
 * assert.equal(h.salt_b64, "c2FsdA");
 * assert.equal(h.hash_b64.length, 43);
 * ```
 */
export async function hashSecret(
  secret: string,
  options: HashSecretOptions = {},
): Promise<SecretHash> {
  if (typeof secret !== "string" || secret === "") {
    throw new InvalidAuthOptionError("secret", "must be a non-empty string");
  }
  const iterations = _checkIterations(options.iterations ?? DEFAULT_PBKDF2_ITERATIONS);
  const salt = options.saltBytes ?? crypto.getRandomValues(new Uint8Array(_SALT_BYTES));
  if (!(salt instanceof Uint8Array) || salt.length === 0) {
    throw new InvalidAuthOptionError("saltBytes", "must be a non-empty Uint8Array");
  }
  const derived = await _derive(secret, options.pepper ?? "", salt, iterations);
  return {
    kdf: API_KEY_KDF,
    iterations,
    salt_b64: _b64urlEncode(salt),
    hash_b64: _b64urlEncode(derived),
  };
}

/**
 * Build the record to store for a key (the secret itself is not in it).
 *
 * @param options Key id, tenant, secret, pepper and optional label, salt, iterations, time.
 * @returns The record, fields in pyoco-server's order.
 * @throws {InvalidTenantIdError} When the tenant id is invalid.
 * @throws {InvalidApiKeyLabelError} When the label is invalid.
 * @throws {InvalidAuthOptionError} When the key id, secret, salt, iterations or time are invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createApiKeyRecord, generateApiKey, verifySecret } from "./keys.ts";
 * const key = generateApiKey();
 * const record = await createApiKeyRecord({ ...key, tenantId: "acme", iterations: 1000 });
 * assert.equal(record.revoked_at, null);
 * assert.equal(await verifySecret(record, key.secret), true);
 * ```
 */
export async function createApiKeyRecord(
  options: CreateApiKeyRecordOptions,
): Promise<ApiKeyRecord> {
  if (!isValidKeyId(options.keyId)) {
    throw new InvalidAuthOptionError("keyId", "must be 8-64 characters of [A-Za-z0-9_-]");
  }
  const tenantId = validateTenantId(options.tenantId);
  const label = options.label === undefined ? undefined : validateApiKeyLabel(options.label);
  const now = options.now ?? Date.now() / 1000;
  if (!Number.isFinite(now) || now < 0) {
    throw new InvalidAuthOptionError("now", "must be a finite number of unix seconds");
  }
  const hash = await hashSecret(options.secret, options);
  const record: ApiKeyRecord = {
    key_id: options.keyId,
    tenant_id: tenantId,
    kdf: hash.kdf,
    iterations: hash.iterations,
    salt_b64: hash.salt_b64,
    hash_b64: hash.hash_b64,
    created_at: now,
    revoked_at: null,
  };
  if (label !== undefined) record.label = label;
  return record;
}

/**
 * Check a secret against a record: derive with the record's salt and iterations, then compare
 * every byte (constant time for equal lengths). Does not look at `revoked_at`.
 *
 * @param record A valid record (see {@linkcode parseApiKeyRecord}).
 * @param secret The presented secret.
 * @param options The pepper.
 * @returns `true` when the secret matches.
 * @throws {InvalidApiKeyRecordError} When the record's salt or hash is not base64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createApiKeyRecord, verifySecret } from "./keys.ts";
 * const secret = "AAECAwQFBgcICQoLDA0ODw";
 * const record = await createApiKeyRecord({
 *   keyId: "0123456789abcdef01234567", tenantId: "acme", secret, pepper: "p", iterations: 1000,
 * });
 * assert.equal(await verifySecret(record, secret, { pepper: "p" }), true);
 * assert.equal(await verifySecret(record, secret, { pepper: "q" }), false);
 * ```
 */
export async function verifySecret(
  record: ApiKeyRecord,
  secret: string,
  options: VerifySecretOptions = {},
): Promise<boolean> {
  const salt = _b64Decode(record.salt_b64, "salt_b64");
  const expected = _b64Decode(record.hash_b64, "hash_b64");
  if (typeof secret !== "string" || secret === "") return false;
  const iterations = _checkIterations(record.iterations);
  const actual = await _derive(secret, options.pepper ?? "", salt, iterations);
  return timingSafeEqual(actual, expected);
}

/**
 * Compare two byte arrays without an early exit: every byte of the longer one is visited.
 *
 * @param a First array.
 * @param b Second array.
 * @returns `true` when both have the same length and bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timingSafeEqual } from "./keys.ts";
 * assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
 * assert.equal(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/**
 * Validate a decoded KV value as an API key record. Like pyoco-server, a missing `kdf` means
 * `"pbkdf2_hmac_sha256"`, a missing `iterations` means 200000 and a missing `created_at` 0.
 *
 * @param value The parsed JSON value.
 * @returns A normalised record.
 * @throws {InvalidApiKeyRecordError} When a field is missing or invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseApiKeyRecord } from "./keys.ts";
 * const r = parseApiKeyRecord({
 *   key_id: "0123456789abcdef01234567", tenant_id: "acme",
 *   salt_b64: "c2FsdA", hash_b64: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
 * });
 * assert.equal(r.iterations, 200000);
 * assert.throws(() => parseApiKeyRecord({}), { name: "InvalidApiKeyRecordError" });
 * ```
 */
export function parseApiKeyRecord(value: unknown): ApiKeyRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidApiKeyRecordError("record", "must be a JSON object");
  }
  const v = value as Record<string, unknown>;
  const keyId = v.key_id;
  if (typeof keyId !== "string" || !_RE_KEY_ID.test(keyId)) {
    throw new InvalidApiKeyRecordError("key_id", "must be 8-64 characters of [A-Za-z0-9_-]");
  }
  const tenantId = v.tenant_id;
  if (typeof tenantId !== "string" || !_RE_TENANT_ID.test(tenantId)) {
    throw new InvalidApiKeyRecordError("tenant_id", "must be 1-64 characters of [A-Za-z0-9_-]");
  }
  const kdf = v.kdf ?? API_KEY_KDF;
  if (kdf !== API_KEY_KDF) {
    throw new InvalidApiKeyRecordError("kdf", `must be "${API_KEY_KDF}"`);
  }
  const iterations = v.iterations ?? DEFAULT_PBKDF2_ITERATIONS;
  if (
    typeof iterations !== "number" || !Number.isInteger(iterations) || iterations < 1 ||
    iterations > MAX_PBKDF2_ITERATIONS
  ) {
    throw new InvalidApiKeyRecordError("iterations", "must be an integer in 1..10000000");
  }
  const saltB64 = v.salt_b64;
  if (typeof saltB64 !== "string" || _b64Decode(saltB64, "salt_b64").length === 0) {
    throw new InvalidApiKeyRecordError("salt_b64", "must be non-empty base64");
  }
  const hashB64 = v.hash_b64;
  if (typeof hashB64 !== "string" || _b64Decode(hashB64, "hash_b64").length !== _DK_BYTES) {
    throw new InvalidApiKeyRecordError("hash_b64", "must be base64 of 32 bytes");
  }
  const createdAt = v.created_at ?? 0;
  if (typeof createdAt !== "number" || !Number.isFinite(createdAt)) {
    throw new InvalidApiKeyRecordError("created_at", "must be unix seconds");
  }
  const revokedAt = v.revoked_at ?? null;
  if (revokedAt !== null && (typeof revokedAt !== "number" || !Number.isFinite(revokedAt))) {
    throw new InvalidApiKeyRecordError("revoked_at", "must be unix seconds or null");
  }
  const record: ApiKeyRecord = {
    key_id: keyId,
    tenant_id: tenantId,
    kdf: API_KEY_KDF,
    iterations,
    salt_b64: saltB64,
    hash_b64: hashB64,
    created_at: createdAt,
    revoked_at: revokedAt,
  };
  if (v.label !== undefined && v.label !== null) {
    if (typeof v.label !== "string" || !_RE_LABEL.test(v.label)) {
      throw new InvalidApiKeyRecordError("label", "must be 1-128 characters without controls");
    }
    record.label = v.label;
  }
  return record;
}

/**
 * A record without `salt_b64` and `hash_b64`, for listings (`pyoco-admin api-key list`).
 *
 * @param record A record.
 * @returns The printable fields plus `revoked`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { publicView } from "./keys.ts";
 * const view = publicView({
 *   key_id: "0123456789abcdef01234567", tenant_id: "acme", kdf: "pbkdf2_hmac_sha256",
 *   iterations: 200000, salt_b64: "c2FsdA", hash_b64: "x", created_at: 1, revoked_at: null,
 * });
 * assert.equal("hash_b64" in view, false);
 * assert.equal(view.revoked, false);
 * ```
 */
export function publicView(record: ApiKeyRecord): ApiKeyPublicView {
  const view: ApiKeyPublicView = {
    key_id: record.key_id,
    tenant_id: record.tenant_id,
    kdf: record.kdf,
    iterations: record.iterations,
    created_at: record.created_at,
    revoked_at: record.revoked_at,
    revoked: record.revoked_at !== null,
  };
  if (record.label !== undefined) view.label = record.label;
  return view;
}

function _checkIterations(iterations: number): number {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS) {
    throw new InvalidAuthOptionError("iterations", "must be an integer in 1..10000000");
  }
  return iterations;
}

async function _derive(
  secret: string,
  pepper: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  const password = _encoder.encode(secret + pepper);
  const key = await crypto.subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: salt as Uint8Array<ArrayBuffer>, iterations },
    key,
    _DK_BYTES * 8,
  );
  return new Uint8Array(bits);
}

function _hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function _b64urlEncode(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function _b64Decode(text: string, field: string): Uint8Array {
  if (typeof text !== "string" || !_RE_B64.test(text)) {
    throw new InvalidApiKeyRecordError(field, "must be base64");
  }
  let std = text.replace(/=+$/, "").replaceAll("-", "+").replaceAll("_", "/");
  if (std.length % 4 === 1) throw new InvalidApiKeyRecordError(field, "must be base64");
  std += "=".repeat((4 - (std.length % 4)) % 4);
  let bin: string;
  try {
    bin = atob(std);
  } catch (err) {
    throw new InvalidApiKeyRecordError(field, "must be base64", { cause: err });
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
