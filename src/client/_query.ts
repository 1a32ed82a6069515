/**
 * Query and header builders shared by the client's methods (run filters, `Last-Event-ID`
 * checks, `Idempotency-Key`). Web APIs only.
 *
 * @module
 */

import type { RunFilterOptions } from "./types.ts";

/**
 * The query of the run filters (`status` repeatable, `flow`, `tag`).
 *
 * @param options The filters.
 * @returns The query.
 */
export function filterQuery(options: RunFilterOptions): URLSearchParams {
  const query = new URLSearchParams();
  const statuses = options.status === undefined
    ? []
    : Array.isArray(options.status)
    ? options.status
    : [options.status];
  for (const status of statuses) query.append("status", status);
  if (options.flow !== undefined) query.set("flow", options.flow);
  if (options.tag !== undefined) query.set("tag", options.tag);
  return query;
}

/**
 * Check a `lastEventId` option.
 *
 * @param owner The method, for the message.
 * @param value The option.
 * @throws {TypeError} When it is not an id a stream could have sent.
 */
export function checkLastEventId(owner: string, value: string | undefined): void {
  if (value === undefined) return;
  if (typeof value !== "string" || !/^[\x21-\x7e]{1,100}$/.test(value)) {
    throw new TypeError(
      `Invalid ${owner} option "lastEventId": expected an id the stream sent, got ${
        JSON.stringify(value)
      }`,
    );
  }
}

/**
 * The `Idempotency-Key` header, when a key is given.
 *
 * @param key The key.
 * @returns The headers.
 * @throws {TypeError} When the key is not a non-empty string.
 */
export function idempotencyHeader(key: string | undefined): Record<string, string> {
  if (key === undefined) return {};
  if (typeof key !== "string" || key === "") {
    throw new TypeError("Invalid idempotencyKey: expected a non-empty string");
  }
  return { "idempotency-key": key };
}
