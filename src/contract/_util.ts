/**
 * Small helpers every part needs once: an abortable sleep and a SHA-256 hex digest. Web APIs
 * only (timers, `AbortSignal`, WebCrypto), so the portable parts (`src/flow/`, `src/client/`)
 * may use them too.
 *
 * @module
 */

/**
 * Waits `ms` milliseconds; rejects with the signal's reason as soon as `signal` aborts (at once
 * when it already has). A caller that wants to stop quietly on abort writes
 * `await abortableSleep(ms, signal).catch(() => {})`.
 *
 * @example Usage
 * ```ts
 * import { abortableSleep } from "./_util.ts";
 * import assert from "node:assert/strict";
 * await abortableSleep(1);
 * const controller = new AbortController();
 * controller.abort(new Error("stop"));
 * await assert.rejects(abortableSleep(60_000, controller.signal), /stop/);
 * ```
 *
 * @param ms How long to wait, in milliseconds.
 * @param signal Stops the wait early.
 * @returns A promise that resolves after `ms`.
 * @throws {unknown} The signal's reason (rejection) when `signal` aborts first.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Lower-case hex SHA-256 of a text (its UTF-8 bytes) or of bytes, from WebCrypto.
 *
 * @example Usage
 * ```ts
 * import { sha256Hex } from "./_util.ts";
 * import assert from "node:assert/strict";
 * assert.equal(
 *   await sha256Hex("abc"),
 *   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
 * );
 * ```
 *
 * @param data The text or the bytes to hash.
 * @returns 64 lower-case hex digits.
 */
export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  let out = "";
  for (const b of digest) out += b.toString(16).padStart(2, "0");
  return out;
}
