/**
 * JSON helpers over a KV bucket with compare-and-set on the revision.
 *
 * @module
 */

import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";

/** A JSON value read from KV with the revision to compare-and-set against. */
export interface Versioned<T> {
  /** The decoded value. */
  value: T;
  /** The KV revision it was read at. */
  revision: number;
}

const _encoder = new TextEncoder();

/** Whether `err` is a failed compare-and-set (the key changed or already exists). */
export function isRevisionConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** JSON-encode a value for KV. */
export function encodeJson(value: unknown): Uint8Array {
  return _encoder.encode(JSON.stringify(value));
}

/**
 * Read a key as JSON.
 *
 * @param kv The bucket.
 * @param key The key.
 * @returns The value and its revision, or `null` when absent or deleted.
 * @throws {SyntaxError} When the stored value is not JSON.
 */
export async function getJson<T>(kv: KV, key: string): Promise<Versioned<T> | null> {
  const entry = await kv.get(key);
  if (!entry || entry.operation !== "PUT" || entry.length === 0) return null;
  return { value: entry.json<T>(), revision: entry.revision };
}

/**
 * Create a key only if it does not exist (or was deleted).
 *
 * @param kv The bucket.
 * @param key The key.
 * @param value JSON value.
 * @returns The new revision, or `null` when the key already exists.
 */
export async function createJson(kv: KV, key: string, value: unknown): Promise<number | null> {
  try {
    return await kv.create(key, encodeJson(value));
  } catch (err) {
    if (isRevisionConflict(err)) return null;
    throw err;
  }
}

/**
 * Write a key only if its revision is still `revision`.
 *
 * @param kv The bucket.
 * @param key The key.
 * @param value JSON value.
 * @param revision The revision read before.
 * @returns The new revision, or `null` when someone else wrote it first.
 */
export async function updateJson(
  kv: KV,
  key: string,
  value: unknown,
  revision: number,
): Promise<number | null> {
  return await updateBytes(kv, key, { bytes: encodeJson(value), revision });
}

/**
 * {@linkcode updateJson} of a value already encoded (a caller that measured its JSON size has
 * the bytes: no second `JSON.stringify`).
 *
 * @param kv The bucket.
 * @param key The key.
 * @param write The UTF-8 JSON bytes and the revision read before.
 * @returns The new revision, or `null` when someone else wrote it first.
 */
export async function updateBytes(
  kv: KV,
  key: string,
  write: { bytes: Uint8Array; revision: number },
): Promise<number | null> {
  try {
    return await kv.update(key, write.bytes, write.revision);
  } catch (err) {
    if (isRevisionConflict(err)) return null;
    throw err;
  }
}

/**
 * Read-modify-write with compare-and-set, retried on conflicts.
 *
 * @param kv The bucket.
 * @param key The key.
 * @param change Gets the current value (or `null`) and returns the new one, or `undefined` to
 *   write nothing.
 * @param maxAttempts Conflicts tolerated before giving up.
 * @returns The value written and its revision, or `null` when `change` chose not to write.
 * @throws {Error} When the key kept changing for `maxAttempts` tries.
 */
export async function casUpdate<T>(
  kv: KV,
  key: string,
  change: (current: Versioned<T> | null) => T | undefined,
  maxAttempts = 20,
): Promise<Versioned<T> | null> {
  for (let i = 0; i < maxAttempts; i++) {
    const current = await getJson<T>(kv, key);
    const next = change(current);
    if (next === undefined) return null;
    const revision = current
      ? await updateJson(kv, key, next, current.revision)
      : await createJson(kv, key, next);
    if (revision !== null) return { value: next, revision };
  }
  throw new Error(`Cannot update KV key "${key}": it kept changing (${maxAttempts} conflicts)`);
}
