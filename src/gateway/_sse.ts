/**
 * A server-sent-events response body: `event:`/`id:`/`data:` frames, a heartbeat after every
 * idle interval, and one close path (client gone, stream finished, or failure).
 *
 * @module
 */

import { msgIdFor } from "../contract/errors.ts";

const _encoder = new TextEncoder();

/** Options of {@linkcode SseStream}. */
export interface SseStreamOptions {
  /** Send `event: heartbeat` after this long without any other frame. */
  heartbeatMs: number;
  /** Aborted when the client goes away (the request's signal). */
  signal?: AbortSignal;
  /** Called once when the stream ends, for whatever reason. */
  onClose?: () => void;
}

/** One SSE response body. */
export class SseStream {
  readonly #stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #heartbeatMs: number;
  readonly #onClose: (() => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.close();

  /**
   * Make the stream (frames are sent with {@linkcode SseStream.send}).
   *
   * @param options Heartbeat interval, client signal and close hook.
   */
  constructor(options: SseStreamOptions) {
    this.#heartbeatMs = options.heartbeatMs;
    this.#onClose = options.onClose;
    this.#signal = options.signal;
    this.#stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.close(),
    });
    if (this.#signal?.aborted) queueMicrotask(() => this.close());
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#arm();
  }

  /** Whether the stream has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The HTTP response carrying the stream.
   *
   * @returns A 200 `text/event-stream` response.
   */
  response(): Response {
    return new Response(this.#stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      },
    });
  }

  /**
   * Send one event.
   *
   * @param event The event name.
   * @param data JSON-encoded as the `data:` line.
   * @param id The `id:` line (omitted when undefined).
   */
  send(event: string, data: unknown, id?: string): void {
    if (this.#closed) return;
    let frame = `event: ${event}\n`;
    if (id !== undefined) frame += `id: ${id}\n`;
    frame += `data: ${JSON.stringify(data)}\n\n`;
    try {
      this.#controller.enqueue(_encoder.encode(frame));
    } catch {
      this.close();
      return;
    }
    this.#arm();
  }

  /**
   * Send `event: error` with the gateway's error body, then close.
   *
   * @param errId The error id.
   * @param detail The human message.
   */
  fail(errId: string, detail: string): void {
    this.send("error", { detail, err_id: errId, msg_id: msgIdFor(errId) });
    this.close();
  }

  /** End the stream (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    try {
      this.#controller.close();
    } catch { /* already closed or cancelled */ }
    try {
      this.#onClose?.();
    } catch { /* the close hook must not throw */ }
  }

  #arm(): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    this.#timer = setTimeout(
      () => this.send("heartbeat", { ts: Date.now() / 1000 }),
      this.#heartbeatMs,
    );
  }
}
