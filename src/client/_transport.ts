/**
 * The client's request plumbing: one `Transport` per client holds the base URL, the API key,
 * the time limit and the retry policy, sends requests (retrying only those safe to repeat),
 * maps failed answers to {@linkcode PyocoHttpError} / {@linkcode PyocoNetworkError}, and opens
 * watch streams. The methods that give routes their meaning are in `client.ts`. Web APIs only.
 *
 * @module
 */

import { abortableSleep } from "../contract/_util.ts";
import { PyocoHttpError, PyocoNetworkError } from "./errors.ts";
import type { FieldError } from "./errors.ts";
import type { CallOptions, PyocoClientOptions, RetryOptions } from "./types.ts";
import { _anySignal, _backoffDelay } from "./_retry.ts";
import { _errorBody, type _Frame, _watchStream } from "./_watch.ts";

/** What one request sends, and whether it may be repeated. */
export interface RequestSpec extends CallOptions {
  /** Query string. */
  query?: URLSearchParams;
  /** A JSON body (sets `content-type`). */
  json?: unknown;
  /** Any other body. */
  body?: BodyInit;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** The `accept` header. @default {"application/json"} */
  accept?: string;
  /** Safe to repeat on 503 / network errors. */
  retryable: boolean;
  /** Leave the body unread (a stream): the time limit covers only the wait for the headers. */
  stream?: boolean;
}

const _DEFAULT_RETRY: Required<RetryOptions> = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2000 };
/** The watch stream sends a heartbeat every 15 s when idle; three missed ones mean it is stalled. */
const _WATCH_IDLE_MS = 45_000;
const _HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** How a client talks to its gateway. */
export class Transport {
  /** The gateway URL, without a trailing slash. */
  readonly baseUrl: string;
  /** The retry policy (validated, defaults filled in). */
  readonly retry: Required<RetryOptions>;
  readonly #apiKey: string | undefined;
  readonly #apiKeyHeader: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  /**
   * Check the client's options; nothing is sent.
   *
   * @param options The client's options.
   * @throws {TypeError} When an option is invalid; the message names it.
   */
  constructor(options: PyocoClientOptions) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("PyocoClient needs an options object with at least baseUrl");
    }
    this.baseUrl = _validBaseUrl(options.baseUrl);
    if (options.apiKey !== undefined && (typeof options.apiKey !== "string" || !options.apiKey)) {
      throw new TypeError('Invalid PyocoClient option "apiKey": expected a non-empty string');
    }
    this.#apiKey = options.apiKey;
    const header = options.apiKeyHeader ?? "X-API-Key";
    if (typeof header !== "string" || !_HEADER_TOKEN.test(header)) {
      throw new TypeError(
        `Invalid PyocoClient option "apiKeyHeader": ${JSON.stringify(header)} is not a header name`,
      );
    }
    this.#apiKeyHeader = header;
    if (options.fetch !== undefined && typeof options.fetch !== "function") {
      throw new TypeError('Invalid PyocoClient option "fetch": expected a function');
    }
    const globalFetch = globalThis.fetch;
    if (options.fetch === undefined && typeof globalFetch !== "function") {
      throw new TypeError(
        'Invalid PyocoClient option "fetch": this runtime has no global fetch, pass one',
      );
    }
    this.#fetch = options.fetch ?? ((input, init) => globalFetch(input, init));
    this.#timeoutMs = positiveMs(options.timeoutMs ?? 30_000, { option: "timeoutMs" });
    this.retry = _validRetry(options.retry);
  }

  /**
   * A watch stream with this client's auth, time limit and retry policy.
   *
   * @param path The route, e.g. `/runs/watch`.
   * @param query Its query.
   * @param options `what` (for messages), `signal` and the `lastEventId` to resume after.
   * @returns The stream's frames, reconnecting as the retry policy allows.
   */
  stream(path: string, options: {
    query: URLSearchParams;
    what: string;
    signal?: AbortSignal;
    lastEventId?: string;
  }): AsyncGenerator<_Frame, void, undefined> {
    const { query, what } = options;
    const text = query.toString();
    return _watchStream({
      url: this.url(path) + (text ? `?${text}` : ""),
      what,
      signal: options.signal,
      lastEventId: options.lastEventId ?? null,
      attempts: this.retry.attempts,
      baseDelayMs: this.retry.baseDelayMs,
      maxDelayMs: this.retry.maxDelayMs,
      idleMs: _WATCH_IDLE_MS,
      open: async (lastEventId, signal) =>
        (await this.send("GET", path, {
          signal,
          query,
          accept: "text/event-stream",
          headers: lastEventId === null ? {} : { "last-event-id": lastEventId },
          retryable: false,
          stream: true,
        })).response,
    });
  }

  /**
   * One request whose answer is JSON.
   *
   * @param method The HTTP method.
   * @param path The route, e.g. `/runs`.
   * @param init Query, body, headers, `retryable`, `signal`.
   * @returns The parsed answer.
   * @throws {PyocoHttpError} For a non-2xx answer, or a 2xx answer that is not JSON.
   * @throws {PyocoNetworkError} When the gateway cannot be reached (after retries).
   */
  async json<T>(method: string, path: string, init: RequestSpec): Promise<T> {
    const { text, response, url } = await this.send(method, path, init);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new PyocoHttpError({
        status: response.status,
        errId: null,
        msgId: null,
        detail: `Expected a JSON answer, got ${_snippet(text) || "an empty body"}`,
        method,
        url,
      }, { cause: err });
    }
  }

  /**
   * One request with the retry policy. With `init.stream`, the time limit covers only the wait
   * for the headers and the body is left unread; otherwise the body is read as text within the
   * limit.
   *
   * @param method The HTTP method.
   * @param path The route.
   * @param init Query, body, headers, `retryable`, `stream`, `signal`.
   * @returns The response, the URL asked and the body text (`""` with `stream`).
   * @throws {PyocoHttpError} For a non-2xx answer.
   * @throws {PyocoNetworkError} When the gateway cannot be reached (after retries).
   */
  async send(
    method: string,
    path: string,
    init: RequestSpec,
  ): Promise<{ response: Response; url: string; text: string }> {
    const stream = init.stream ?? false;
    const query = init.query?.toString();
    const url = this.url(path) + (query ? `?${query}` : "");
    const headers: Record<string, string> = { accept: init.accept ?? "application/json" };
    if (this.#apiKey !== undefined) headers[this.#apiKeyHeader] = this.#apiKey;
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] = "application/json";
    }
    Object.assign(headers, init.headers);
    const attempts = init.retryable ? this.retry.attempts : 1;
    const fetchFn = this.#fetch;
    for (let attempt = 1;; attempt++) {
      init.signal?.throwIfAborted();
      const limit = new AbortController();
      const timer = setTimeout(
        () => limit.abort(new DOMException("Request timed out", "TimeoutError")),
        this.#timeoutMs,
      );
      const signal = _anySignal([init.signal, limit.signal]);
      let retryAfterMs = 0;
      let failure: PyocoHttpError | PyocoNetworkError;
      try {
        const response = await fetchFn(url, { method, headers, body, signal });
        if (response.ok) {
          if (stream) return { response, url, text: "" };
          return { response, url, text: await response.text() };
        }
        failure = await _httpError(response, { method, url });
        retryAfterMs = _retryAfterMs(response.headers.get("retry-after"));
        if (response.status !== 503 || attempt >= attempts) throw failure;
      } catch (err) {
        if (err instanceof PyocoHttpError) throw err;
        if (init.signal?.aborted) throw init.signal.reason;
        const timedOut = limit.signal.aborted;
        const origin = new URL(url).origin;
        const tries = attempt === 1 ? "1 attempt" : `${attempt} attempts`;
        failure = new PyocoNetworkError(
          timedOut
            ? `Gateway at ${origin} did not answer ${method} ${path} within ${this.#timeoutMs} ms (${tries})`
            : `Cannot reach the gateway at ${origin} (${method} ${path}, ${tries}): ${
              _message(err)
            }`,
          { url, attempts: attempt, timedOut },
          { cause: err },
        );
        if (attempt >= attempts) throw failure;
      } finally {
        clearTimeout(timer);
      }
      const backoff = _backoffDelay(attempt, this.retry);
      await abortableSleep(
        Math.max(backoff, Math.min(retryAfterMs, this.retry.maxDelayMs)),
        init.signal,
      );
    }
  }

  /**
   * The absolute URL of a route.
   *
   * @param path The route.
   * @returns `baseUrl + path`.
   */
  url(path: string): string {
    return this.baseUrl + path;
  }
}

function _validBaseUrl(value: unknown): string {
  let url: URL;
  try {
    if (typeof value !== "string" && !(value instanceof URL)) throw new Error();
    url = new URL(value);
  } catch {
    throw new TypeError(
      `Invalid PyocoClient option "baseUrl": expected an http(s) URL such as http://127.0.0.1:8000, got ${
        JSON.stringify(String(value))
      }`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `Invalid PyocoClient option "baseUrl": expected http: or https:, got ${url.protocol}`,
    );
  }
  if (url.search || url.hash) {
    throw new TypeError(
      `Invalid PyocoClient option "baseUrl": must not have a query or fragment, got ${url.href}`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

/**
 * Checks a time option: a positive, finite number of milliseconds.
 *
 * @param value The value given.
 * @param where The option's name and its owner (`PyocoClient` by default), for the message.
 * @returns The value.
 * @throws {TypeError} When it is not a positive number; the message names the option.
 */
export function positiveMs(value: unknown, where: { option: string; owner?: string }): number {
  const { option: name, owner = "PyocoClient" } = where;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(
      `Invalid ${owner} option "${name}": expected a positive number of milliseconds, got ${
        String(value)
      }`,
    );
  }
  return value;
}

function _validRetry(retry: RetryOptions | false | undefined): Required<RetryOptions> {
  if (retry === false) return { ..._DEFAULT_RETRY, attempts: 1 };
  if (retry === undefined) return { ..._DEFAULT_RETRY };
  if (retry === null || typeof retry !== "object") {
    throw new TypeError('Invalid PyocoClient option "retry": expected an object or false');
  }
  const out = { ..._DEFAULT_RETRY, ...retry };
  if (!Number.isInteger(out.attempts) || out.attempts < 1) {
    throw new TypeError(
      `Invalid PyocoClient option "retry.attempts": expected an integer ≥ 1, got ${out.attempts}`,
    );
  }
  for (const key of ["baseDelayMs", "maxDelayMs"] as const) {
    if (!Number.isFinite(out[key]) || out[key] < 0) {
      throw new TypeError(
        `Invalid PyocoClient option "retry.${key}": expected a number ≥ 0, got ${out[key]}`,
      );
    }
  }
  if (out.maxDelayMs < out.baseDelayMs) {
    throw new TypeError(
      `Invalid PyocoClient option "retry.maxDelayMs": must be ≥ retry.baseDelayMs (${out.baseDelayMs}), got ${out.maxDelayMs}`,
    );
  }
  return out;
}

/**
 * Checks a path parameter and encodes it for the URL.
 *
 * @param name Its name, for the message.
 * @param value The value given.
 * @returns The encoded segment.
 * @throws {TypeError} When it is not a non-empty string.
 */
export function pathSegment(name: string, value: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`Invalid ${name}: expected a non-empty string, got ${String(value)}`);
  }
  return encodeURIComponent(value);
}

async function _httpError(
  res: Response,
  request: { method: string; url: string },
): Promise<PyocoHttpError> {
  const { method, url } = request;
  let text = "";
  try {
    text = await res.text();
  } catch {
    // body unreadable: the status says enough
  }
  const body = _errorBody(text);
  if (body) {
    return new PyocoHttpError({
      status: res.status,
      errId: body.err_id,
      msgId: body.msg_id ?? null,
      detail: body.detail,
      errors: _fieldErrors(body.errors),
      method,
      url,
    });
  }
  const snippet = _snippet(text);
  const reason = res.statusText || "no reason given";
  return new PyocoHttpError({
    status: res.status,
    errId: null,
    msgId: null,
    detail: snippet ? `${reason}: ${snippet}` : reason,
    method,
    url,
  });
}

function _fieldErrors(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((e) => e && typeof e === "object")
    .map((e) => ({ path: String(e.path ?? ""), message: String(e.message ?? "") }));
}

function _retryAfterMs(header: string | null): number {
  if (!header) return 0;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

function _snippet(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}

function _message(err: unknown): string {
  const seen = new Set<unknown>();
  let e: unknown = err;
  // Deno and Node wrap the OS error ("Connection refused") in `cause`: show the innermost.
  while (e instanceof Error && e.cause instanceof Error && !seen.has(e.cause)) {
    seen.add(e);
    e = e.cause;
  }
  return e instanceof Error ? e.message : String(e);
}
