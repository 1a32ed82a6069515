/**
 * {@linkcode ApiKeyStore}: create, list, get and revoke API key records in the auth KV bucket
 * (`pyoco_auth`, key `api_keys.<key_id>`, JSON records in pyoco-server's format).
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import {
  type ApiKeyRecord,
  createApiKeyRecord,
  DEFAULT_PBKDF2_ITERATIONS,
  generateApiKey,
  isValidKeyId,
  MAX_PBKDF2_ITERATIONS,
  parseApiKeyRecord,
  validateApiKeyLabel,
  validateTenantId,
} from "./keys.ts";
import { ApiKeyNotFoundError, InvalidAuthOptionError } from "./errors.ts";

/** KV key prefix of API key records. */
export const API_KEYS_KV_PREFIX = "api_keys.";

/**
 * The KV key of a key id's record.
 *
 * @param keyId A key id.
 * @returns `api_keys.<keyId>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { apiKeyKvKey } from "./store.ts";
 * assert.equal(apiKeyKvKey("0123456789abcdef01234567"), "api_keys.0123456789abcdef01234567");
 * ```
 */
export function apiKeyKvKey(keyId: string): string {
  return `${API_KEYS_KV_PREFIX}${keyId}`;
}

/** Options of {@linkcode ApiKeyStore}. */
export interface ApiKeyStoreOptions {
  /**
   * Pepper appended to secrets before hashing (`PYOCO_AUTH_PEPPER`); must equal the
   * verifier's.
   * @default {""}
   */
  pepper?: string;
  /**
   * PBKDF2 iterations of new records (lower only in tests).
   * @default {200000}
   */
  iterations?: number;
}

/** Input of {@linkcode ApiKeyStore.create}. */
export interface CreateApiKeyInput {
  /** Tenant id, `[A-Za-z0-9_-]{1,64}`. */
  tenantId: string;
  /** Optional label, 1-128 characters without control characters. */
  label?: string;
}

/** Result of {@linkcode ApiKeyStore.create}. `apiKey` is the only copy of the secret. */
export interface CreatedApiKey {
  /** Key id. */
  keyId: string;
  /** Tenant id. */
  tenantId: string;
  /** `pyoco_<keyId>.<secret>`: show it once, never log it. */
  apiKey: string;
  /** The stored record (no secret in it). */
  record: ApiKeyRecord;
}

/** Filter of {@linkcode ApiKeyStore.list}. */
export interface ListApiKeysOptions {
  /** Only keys of this tenant. */
  tenantId?: string;
}

/**
 * API key records in a KV bucket. Records are created with KV `create` (never overwritten) and
 * revoked with a compare-and-set `update`.
 *
 * @example
 * ```ts ignore
 * import { Kvm } from "@nats-io/kv";
 * const store = new ApiKeyStore(await new Kvm(nc).create("pyoco_auth"), { pepper });
 * const { apiKey } = await store.create({ tenantId: "acme" });
 * ```
 */
export class ApiKeyStore {
  readonly #kv: KV;
  readonly #pepper: string;
  readonly #iterations: number;

  /**
   * Create a store over the auth bucket.
   *
   * @param kv The auth bucket.
   * @param options Pepper and iterations.
   * @throws {InvalidAuthOptionError} When an option is out of range.
   */
  constructor(kv: KV, options: ApiKeyStoreOptions = {}) {
    if (!kv || typeof kv.get !== "function") {
      throw new InvalidAuthOptionError("kv", "must be a KV bucket handle");
    }
    const iterations = options.iterations ?? DEFAULT_PBKDF2_ITERATIONS;
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS) {
      throw new InvalidAuthOptionError("iterations", "must be an integer in 1..10000000");
    }
    if (options.pepper !== undefined && typeof options.pepper !== "string") {
      throw new InvalidAuthOptionError("pepper", "must be a string");
    }
    this.#kv = kv;
    this.#pepper = options.pepper ?? "";
    this.#iterations = iterations;
  }

  /**
   * Generate a key for a tenant and store its record (KV create: never overwrites).
   *
   * @param input Tenant and optional label.
   * @returns The key text (shown once), its id and the stored record.
   * @throws {InvalidTenantIdError} When the tenant id is invalid.
   * @throws {InvalidApiKeyLabelError} When the label is invalid.
   */
  async create(input: CreateApiKeyInput): Promise<CreatedApiKey> {
    const tenantId = validateTenantId(input.tenantId);
    const label = input.label === undefined ? undefined : validateApiKeyLabel(input.label);
    const key = generateApiKey();
    const record = await createApiKeyRecord({
      keyId: key.keyId,
      secret: key.secret,
      tenantId,
      label,
      pepper: this.#pepper,
      iterations: this.#iterations,
    });
    await this.#kv.create(apiKeyKvKey(key.keyId), JSON.stringify(record));
    return { keyId: key.keyId, tenantId, apiKey: key.apiKey, record };
  }

  /**
   * Read one record.
   *
   * @param keyId Key id.
   * @returns The record, or `null` when there is none (or it was deleted).
   * @throws {InvalidApiKeyRecordError} When the stored value is not a valid record.
   */
  async get(keyId: string): Promise<ApiKeyRecord | null> {
    if (!isValidKeyId(keyId)) return null;
    const entry = await this.#kv.get(apiKeyKvKey(keyId));
    if (!entry || entry.operation !== "PUT") return null;
    return parseApiKeyRecord(entry.json());
  }

  /**
   * All records (active and revoked), oldest first. Records carry `salt_b64`/`hash_b64` but no
   * secret; print them through {@linkcode publicView}.
   *
   * @param options Optional tenant filter.
   * @returns The records.
   * @throws {InvalidApiKeyRecordError} When a stored value is not a valid record.
   */
  async list(options: ListApiKeysOptions = {}): Promise<ApiKeyRecord[]> {
    const keys: string[] = [];
    for await (const k of await this.#kv.keys(`${API_KEYS_KV_PREFIX}>`)) keys.push(k);
    const out: ApiKeyRecord[] = [];
    for (const k of keys) {
      const record = await this.get(k.slice(API_KEYS_KV_PREFIX.length));
      if (!record) continue;
      if (options.tenantId !== undefined && record.tenant_id !== options.tenantId) continue;
      out.push(record);
    }
    out.sort((a, b) => a.created_at - b.created_at || a.key_id.localeCompare(b.key_id));
    return out;
  }

  /**
   * Revoke a key: set `revoked_at` (compare-and-set). Idempotent: an already revoked key is
   * returned unchanged.
   *
   * @param keyId Key id.
   * @returns The revoked record.
   * @throws {ApiKeyNotFoundError} When there is no record for the key id.
   * @throws {InvalidApiKeyRecordError} When the stored value is not a valid record.
   */
  async revoke(keyId: string): Promise<ApiKeyRecord> {
    if (!isValidKeyId(keyId)) throw new ApiKeyNotFoundError(keyId);
    const k = apiKeyKvKey(keyId);
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await this.#kv.get(k);
      if (!entry || entry.operation !== "PUT") throw new ApiKeyNotFoundError(keyId);
      const record = parseApiKeyRecord(entry.json());
      if (record.revoked_at !== null) return record;
      const revoked: ApiKeyRecord = { ...record, revoked_at: Date.now() / 1000 };
      try {
        await this.#kv.update(k, JSON.stringify(revoked), entry.revision);
        return revoked;
      } catch (err) {
        // Lost a compare-and-set race (or a transient failure): read again and retry.
        lastError = err;
      }
    }
    throw lastError;
  }
}
