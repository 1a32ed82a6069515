/**
 * Request bodies with a byte cap enforced while streaming (a client can never make the gateway
 * buffer more than the cap), then decoded as JSON or multipart form data.
 *
 * @module
 */

import { ErrId } from "../contract/errors.ts";
import { MAX_JSON_DEPTH } from "../contract/limits.ts";
import { HttpError, invalidRequest } from "./errors.ts";

/** A body declared at most this long is read into a fresh buffer of its exact size. */
const _SMALL_BODY_BYTES = 64 * 1024;

/** Most bytes of idle body buffers kept for reuse (at the default 1 MiB cap: 16 buffers). */
const _POOL_BYTES = 16 * 1024 * 1024;

/**
 * Cap-sized buffers for large bodies (or bodies of unknown length), reused from request to
 * request. Without it every large body allocated a fresh cap-sized buffer next to the 64 KiB
 * chunks the runtime hands over, and under a stream of large bodies the native heap fragmented:
 * RSS grew round after round although nothing was retained (issue 12 #6). More bodies in flight
 * than the pool holds get fresh buffers, which are dropped afterwards; nobody ever waits.
 */
class _BufferPool {
  #size = 0;
  #idle: Uint8Array<ArrayBuffer>[] = [];

  take(size: number): Uint8Array<ArrayBuffer> {
    if (size !== this.#size) {
      this.#size = size;
      this.#idle = [];
    }
    return this.#idle.pop() ?? new Uint8Array(size);
  }

  give(buf: Uint8Array<ArrayBuffer>): void {
    if (buf.byteLength !== this.#size) return;
    if (this.#idle.length < Math.floor(_POOL_BYTES / this.#size)) this.#idle.push(buf);
  }
}

const _POOL = new _BufferPool();

/** Decodes whole bodies (never streaming, so one instance serves every request). */
const _UTF8 = new TextDecoder("utf-8", { fatal: true });

function _tooLarge(maxBytes: number): HttpError {
  return new HttpError(
    413,
    ErrId.bodyTooLarge,
    `Request body too large: the limit is ${maxBytes} bytes (PYOCO_HTTP_MAX_BODY_BYTES)`,
  );
}

/**
 * Read a request body under the cap into a buffer and hand a view of it to `use`; the buffer
 * goes back to the pool once `use` has settled, so `use` must not keep the view.
 */
async function _withBody<T>(
  req: Request,
  maxBytes: number,
  use: (bytes: Uint8Array<ArrayBuffer>) => T | Promise<T>,
): Promise<T> {
  const header = req.headers.get("content-length")?.trim();
  const declared = header !== undefined && /^\d+$/.test(header) ? Number(header) : null;
  if (declared !== null && declared > maxBytes) {
    await req.body?.cancel().catch(() => {});
    throw _tooLarge(maxBytes);
  }
  if (req.body === null || declared === 0) return await use(new Uint8Array(0));
  if (declared !== null && declared <= _SMALL_BODY_BYTES) {
    // A small body of known length (every submit): read whole in one go, Deno's fast path for
    // a body it holds (no reader, no chunk loop). The server ends a body at its Content-Length.
    const bytes = new Uint8Array(await req.arrayBuffer());
    if (bytes.byteLength > maxBytes) throw _tooLarge(maxBytes);
    return await use(bytes);
  }
  // Pool only small caps (at most a quarter of the pool): a 64 MiB cap would otherwise allocate
  // 64 MiB for every body of unknown length.
  const pooled = maxBytes <= _POOL_BYTES / 4 &&
    (declared === null || declared > _SMALL_BODY_BYTES);
  let buf = pooled
    ? _POOL.take(maxBytes)
    : new Uint8Array(declared ?? Math.min(maxBytes, _SMALL_BODY_BYTES));
  try {
    const reader = req.body.getReader();
    let total = 0;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      const end = total + value.byteLength;
      if (end > maxBytes || (end > buf.byteLength && declared !== null)) {
        await reader.cancel().catch(() => {});
        throw _tooLarge(maxBytes);
      }
      if (end > buf.byteLength) {
        // Unknown length, cap too large to pool: grow by doubling, never past the cap.
        const grown = new Uint8Array(Math.min(maxBytes, Math.max(end, buf.byteLength * 2)));
        grown.set(buf.subarray(0, total));
        buf = grown;
      }
      buf.set(value, total);
      total = end;
    }
    return await use(buf.subarray(0, total));
  } finally {
    if (pooled) _POOL.give(buf);
  }
}

/**
 * Read a request body, refusing it as soon as it exceeds `maxBytes`. A `Content-Length` above
 * the cap is refused before reading anything. The bytes are copied into one buffer as they
 * arrive (no list of chunks plus a copy of them).
 *
 * @param req The request.
 * @param maxBytes The cap (`PYOCO_HTTP_MAX_BODY_BYTES`).
 * @returns The body bytes (empty when there is none), owned by the caller.
 * @throws {HttpError} 413 ERR-PYOCO-0017 when the body is larger than the cap.
 *
 * @example Usage
 * ```ts
 * import { readBodyCapped } from "./body.ts";
 * import assert from "node:assert/strict";
 * const bytes = await readBodyCapped(new Request("http://gw/", { method: "POST", body: "hi" }), 10);
 * assert.equal(new TextDecoder().decode(bytes), "hi");
 * await assert.rejects(
 *   readBodyCapped(new Request("http://gw/", { method: "POST", body: "too long" }), 4),
 *   /too large/,
 * );
 * ```
 */
export async function readBodyCapped(
  req: Request,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  return await _withBody(req, maxBytes, (bytes) => bytes.slice());
}

/**
 * Whether a request has no body at all (none, or `Content-Length: 0`): routes whose body is
 * optional treat it as `{}`.
 *
 * @param req The request.
 * @returns `true` when there is nothing to read.
 */
export function isEmptyBody(req: Request): boolean {
  return req.body === null || req.headers.get("content-length")?.trim() === "0";
}

function _mediaType(req: Request): string {
  return (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Read a JSON request body under the cap.
 *
 * @param req The request; its `Content-Type` must be `application/json` (or `*+json`).
 * @param maxBytes The body cap.
 * @returns The parsed JSON value.
 * @throws {HttpError} 413 ERR-PYOCO-0017 above the cap; 422 ERR-PYOCO-0002 for another content
 *   type, a body that is not UTF-8 or not JSON.
 */
export async function readJsonBody(req: Request, maxBytes: number): Promise<unknown> {
  const type = _mediaType(req);
  if (type !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    await req.body?.cancel().catch(() => {});
    throw invalidRequest([{
      path: "body",
      message: `expected Content-Type application/json, got ${JSON.stringify(type || "none")}`,
    }]);
  }
  // The text is decoded while the (pooled) bytes are held; they are not needed to parse it.
  const text = await _withBody(req, maxBytes, (bytes) => {
    const tooDeep = _jsonTextTooDeep(bytes, _MAX_BODY_DEPTH);
    if (tooDeep !== null) {
      throw invalidRequest([{
        path: tooDeep,
        message: `nested deeper than ${_MAX_BODY_DEPTH} levels in the body (params, ` +
          `flow.defaults and task inputs may nest at most ${MAX_JSON_DEPTH} levels)`,
      }]);
    }
    try {
      return _UTF8.decode(bytes);
    } catch {
      throw invalidRequest([{ path: "body", message: "the body is not valid UTF-8" }]);
    }
  });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidRequest([{
      path: "body",
      message: `the body is not valid JSON: ${(err as Error).message}`,
    }]);
  }
}

/**
 * Read a `multipart/form-data` request body under the cap. The cap is enforced on the raw
 * bytes before the form is parsed.
 *
 * @param req The request.
 * @param maxBytes The body cap.
 * @returns The parsed form.
 * @throws {HttpError} 413 ERR-PYOCO-0017 above the cap; 422 ERR-PYOCO-0002 for another content
 *   type or a malformed form.
 */
export async function readMultipartBody(req: Request, maxBytes: number): Promise<FormData> {
  const type = _mediaType(req);
  if (type !== "multipart/form-data") {
    await req.body?.cancel().catch(() => {});
    throw invalidRequest([{
      path: "body",
      message: `expected Content-Type multipart/form-data, got ${JSON.stringify(type || "none")}`,
    }]);
  }
  if (!/;\s*boundary=/i.test(req.headers.get("content-type") ?? "")) {
    await req.body?.cancel().catch(() => {});
    throw invalidRequest([{
      path: "body",
      message: "the body is not valid multipart/form-data: the Content-Type has no boundary",
    }]);
  }
  return await _withBody(req, maxBytes, async (bytes) => {
    try {
      return await new Response(bytes, {
        headers: { "content-type": req.headers.get("content-type") ?? "" },
      }).formData();
    } catch (err) {
      throw invalidRequest([{
        path: "body",
        message: `the body is not valid multipart/form-data: ${(err as Error).message}`,
      }]);
    }
  });
}

/**
 * How deep a JSON body may nest before it is parsed at all: the deepest legal body is a batch
 * item's `params` (`{"runs": [{"params": …}]}`, 3 levels above {@linkcode MAX_JSON_DEPTH}), plus
 * room. A body nested 10,000 levels is refused from its bytes, without building 10,000 objects.
 */
const _MAX_BODY_DEPTH = MAX_JSON_DEPTH + 8;

const _QUOTE = 0x22;
const _BACKSLASH = 0x5c;
const _COLON = 0x3a;

/**
 * Scan JSON text (bytes) for nesting deeper than `max`, in one loop. Strings are skipped (with
 * their escapes); the text need not be valid JSON — a body this scan lets through is parsed next.
 *
 * @returns `null` within the limit, else where the limit was passed: the top-level key under
 *   which it happened, or `body`.
 */
function _jsonTextTooDeep(bytes: Uint8Array, max: number): string | null {
  let depth = 0;
  let topKey = "body";
  let lastStringStart = -1;
  let lastStringEnd = -1;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === _QUOTE) {
      const start = i + 1;
      i++;
      while (i < bytes.length && bytes[i] !== _QUOTE) i += bytes[i] === _BACKSLASH ? 2 : 1;
      lastStringStart = start;
      lastStringEnd = i;
    } else if (b === 0x7b || b === 0x5b) { // { [
      if (++depth > max) return topKey;
    } else if (b === 0x7d || b === 0x5d) { // } ]
      depth--;
    } else if (b === _COLON && depth === 1 && lastStringStart >= 0) {
      topKey = new TextDecoder().decode(
        bytes.subarray(lastStringStart, Math.min(lastStringEnd, lastStringStart + 64)),
      );
    }
  }
  return null;
}
