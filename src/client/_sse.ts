/**
 * Server-Sent Events reading for the watch stream, on top of `eventsource-parser` (spec-compliant,
 * zero dependencies, runtime-neutral). Web APIs only.
 *
 * @module
 */

import { createParser } from "eventsource-parser";

/** One server-sent event. */
export interface SseEvent {
  /** The `event:` field; `"message"` when absent. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The `id:` field, if any. */
  id?: string;
}

/**
 * Read server-sent events from a byte stream, yielding each complete event in order.
 * Comment lines (`: …`) are yielded as events named `"comment"` so callers can treat them as
 * liveness. Stopping the iteration cancels the stream.
 *
 * @param body The response body.
 * @returns The events, until the stream ends.
 */
export async function* readSseEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<SseEvent, void, undefined> {
  const pending: SseEvent[] = [];
  const parser = createParser({
    onEvent: (e) => {
      pending.push({
        event: e.event ?? "message",
        data: e.data,
        ...(e.id !== undefined && { id: e.id }),
      });
    },
    onComment: (comment) => {
      pending.push({ event: "comment", data: comment });
    },
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let done = false;
  try {
    while (true) {
      const chunk = await reader.read();
      if (chunk.done) {
        done = true;
        const rest = decoder.decode();
        if (rest) parser.feed(rest);
        // A final event without its blank line is incomplete: per the SSE spec it is dropped.
        yield* pending.splice(0);
        return;
      }
      parser.feed(decoder.decode(chunk.value, { stream: true }));
      yield* pending.splice(0);
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
