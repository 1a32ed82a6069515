/**
 * Request bodies with a byte cap enforced while streaming (a client can never make the gateway
 * buffer more than the cap), then decoded as JSON or multipart form data.
 *
 * @module
 */

import { ErrId } from "../contract/errors.ts";
import { HttpError, invalidRequest } from "./errors.ts";

/**
 * Read a request body, refusing it as soon as it exceeds `maxBytes`. A `Content-Length` above
 * the cap is refused before reading anything.
 *
 * @param req The request.
 * @param maxBytes The cap (`PYOCO_HTTP_MAX_BODY_BYTES`).
 * @returns The body bytes (empty when there is none).
 * @throws {HttpError} 413 ERR-PYOCO-0017 when the body is larger than the cap.
 */
export async function readBodyCapped(
  req: Request,
  maxBytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () =>
    new HttpError(
      413,
      ErrId.bodyTooLarge,
      `Request body too large: the limit is ${maxBytes} bytes (PYOCO_HTTP_MAX_BODY_BYTES)`,
    );
  const declared = req.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > maxBytes) {
    await req.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
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
  const bytes = await readBodyCapped(req, maxBytes);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw invalidRequest([{ path: "body", message: "the body is not valid UTF-8" }]);
  }
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
  const bytes = await readBodyCapped(req, maxBytes);
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
}
