/**
 * Errors of the API-key authentication module. Web-standard only (no `Deno.*`, no `node:*`).
 *
 * No message or field ever contains an API key secret or the pepper.
 *
 * @module
 */

/** Why a presented API key text could not be parsed. */
export type ApiKeyFormatProblem = "empty" | "prefix" | "separator" | "key_id" | "secret";

/**
 * The presented text is not of the form `pyoco_<key_id>.<secret>`.
 *
 * The message names the part that is wrong and never contains the text itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ApiKeyFormatError } from "./errors.ts";
 * const err = new ApiKeyFormatError("prefix");
 * assert.equal(err.problem, "prefix");
 * ```
 */
export class ApiKeyFormatError extends Error {
  /** Which part of the key is wrong. */
  readonly problem: ApiKeyFormatProblem;

  /**
   * Create the error.
   *
   * @param problem Which part of the key is wrong.
   * @param options Standard error options (`cause`).
   */
  constructor(problem: ApiKeyFormatProblem, options?: ErrorOptions) {
    super(`Cannot parse API key: ${_FORMAT_DETAIL[problem]}`, options);
    this.name = "ApiKeyFormatError";
    this.problem = problem;
  }
}

const _FORMAT_DETAIL: Record<ApiKeyFormatProblem, string> = {
  empty: "the key is empty",
  prefix: 'the key does not start with "pyoco_"',
  separator: 'the key has no "." between key id and secret',
  key_id: "the key id is not 8-64 characters of [A-Za-z0-9_-]",
  secret: "the secret is not 16-256 characters of [A-Za-z0-9_-]",
};

/**
 * A tenant id does not match `[A-Za-z0-9_-]{1,64}` (the pyoco-server rule).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidTenantIdError } from "./errors.ts";
 * assert.equal(new InvalidTenantIdError("a b").tenantId, "a b");
 * ```
 */
export class InvalidTenantIdError extends Error {
  /** The rejected tenant id (not a secret). */
  readonly tenantId: string;

  /**
   * Create the error.
   *
   * @param tenantId The rejected tenant id.
   * @param options Standard error options (`cause`).
   */
  constructor(tenantId: string, options?: ErrorOptions) {
    super(
      `Invalid tenant id ${_quote(tenantId)}: expected 1-64 characters of [A-Za-z0-9_-]`,
      options,
    );
    this.name = "InvalidTenantIdError";
    this.tenantId = tenantId;
  }
}

/**
 * An API key label is empty, longer than 128 characters or contains control characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidApiKeyLabelError } from "./errors.ts";
 * assert.equal(new InvalidApiKeyLabelError("").label, "");
 * ```
 */
export class InvalidApiKeyLabelError extends Error {
  /** The rejected label. */
  readonly label: string;

  /**
   * Create the error.
   *
   * @param label The rejected label.
   * @param options Standard error options (`cause`).
   */
  constructor(label: string, options?: ErrorOptions) {
    super(
      `Invalid API key label ${
        _quote(label)
      }: expected 1-128 characters without control characters`,
      options,
    );
    this.name = "InvalidApiKeyLabelError";
    this.label = label;
  }
}

/**
 * A stored API key record is not a valid pyoco-server record.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidApiKeyRecordError } from "./errors.ts";
 * const err = new InvalidApiKeyRecordError("hash_b64", "not base64");
 * assert.equal(err.field, "hash_b64");
 * ```
 */
export class InvalidApiKeyRecordError extends Error {
  /** The offending field (`"record"` when the value is not an object). */
  readonly field: string;

  /**
   * Create the error.
   *
   * @param field The offending field.
   * @param detail What is wrong with it.
   * @param options Standard error options (`cause`).
   */
  constructor(field: string, detail: string, options?: ErrorOptions) {
    super(`Invalid API key record: field "${field}" ${detail}`, options);
    this.name = "InvalidApiKeyRecordError";
    this.field = field;
  }
}

/**
 * No API key record exists for the key id (or it was deleted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ApiKeyNotFoundError } from "./errors.ts";
 * assert.equal(new ApiKeyNotFoundError("0123456789abcdef01234567").keyId, "0123456789abcdef01234567");
 * ```
 */
export class ApiKeyNotFoundError extends Error {
  /** The key id that was looked up. */
  readonly keyId: string;

  /**
   * Create the error.
   *
   * @param keyId The key id that was looked up.
   * @param options Standard error options (`cause`).
   */
  constructor(keyId: string, options?: ErrorOptions) {
    super(`API key ${_quote(keyId)} not found: no record at api_keys.${keyId}`, options);
    this.name = "ApiKeyNotFoundError";
    this.keyId = keyId;
  }
}

/**
 * The auth KV bucket could not be read in time (NATS down or slow); the gateway answers 503.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ApiKeyStoreUnavailableError } from "./errors.ts";
 * assert.equal(new ApiKeyStoreUnavailableError("get").operation, "get");
 * ```
 */
export class ApiKeyStoreUnavailableError extends Error {
  /** The KV operation that failed (`"get"`, `"watch"`). */
  readonly operation: string;

  /**
   * Create the error.
   *
   * @param operation The KV operation that failed.
   * @param options Standard error options; `cause` carries the NATS error.
   */
  constructor(operation: string, options?: ErrorOptions) {
    super(`Cannot ${operation} API key records: the auth KV bucket is unavailable`, options);
    this.name = "ApiKeyStoreUnavailableError";
    this.operation = operation;
  }
}

/**
 * An option of an auth function or constructor is out of range.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidAuthOptionError } from "./errors.ts";
 * assert.equal(new InvalidAuthOptionError("iterations", "must be a positive integer").option, "iterations");
 * ```
 */
export class InvalidAuthOptionError extends Error {
  /** The option's name. */
  readonly option: string;

  /**
   * Create the error.
   *
   * @param option The option's name.
   * @param detail What is allowed.
   * @param options Standard error options (`cause`).
   */
  constructor(option: string, detail: string, options?: ErrorOptions) {
    super(`Invalid option "${option}": ${detail}`, options);
    this.name = "InvalidAuthOptionError";
    this.option = option;
  }
}

/** How a pepper differs from the one the stored keys were made with. */
export type PepperMismatch = "differs" | "empty_here" | "empty_there";

/**
 * This process's `PYOCO_AUTH_PEPPER` is not the one the API keys in the auth bucket were made
 * with (compared through the bucket's pepper fingerprint, never the pepper itself). Keys made on
 * one side would answer 403 on the other, so start-up refuses. The message says which side
 * differs and how to fix it; the pepper is never part of it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PepperMismatchError } from "./errors.ts";
 * const err = new PepperMismatchError("empty_here", { who: "gateway", bucket: "pyoco_auth" });
 * assert.match(err.message, /this gateway's PYOCO_AUTH_PEPPER is empty while/);
 * ```
 */
export class PepperMismatchError extends Error {
  /** `differs`: both set, not equal; `empty_here`: ours is empty; `empty_there`: theirs was. */
  readonly mismatch: PepperMismatch;
  /** The auth bucket. */
  readonly bucket: string;
  /** The message without its "Refusing to start: " lead (for warnings). */
  readonly detail: string;

  /**
   * Create the error.
   *
   * @param mismatch How the peppers differ.
   * @param options `who` names this process (`"gateway"`, `"admin CLI"`), `bucket` the auth
   * bucket; `cause` as usual.
   */
  constructor(
    mismatch: PepperMismatch,
    options: { who: string; bucket: string } & ErrorOptions,
  ) {
    const mine = `this ${options.who}'s PYOCO_AUTH_PEPPER`;
    const keys = `the API keys in KV bucket ${options.bucket}`;
    const text = {
      differs: `${mine} differs from the one ${keys} were made with; ` +
        "set the same PYOCO_AUTH_PEPPER everywhere (keys made with another pepper answer 403)",
      empty_here: `${mine} is empty while ${keys} were made with a pepper; ` +
        "set the PYOCO_AUTH_PEPPER the keys were made with",
      empty_there: `${mine} is set while ${keys} were made without one; ` +
        "unset it, or re-create the keys with this pepper",
    }[mismatch] +
      " (to change the pepper on purpose: pyoco-admin api-key pepper-reset, docs/auth.md)";
    super(`Refusing to start: ${text}`, { cause: options.cause });
    this.name = "PepperMismatchError";
    this.mismatch = mismatch;
    this.bucket = options.bucket;
    this.detail = text;
  }
}

function _quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
