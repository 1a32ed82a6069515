/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Server-sent events over `fetch` (an `EventSource` cannot send the API-key header): frames are
 * parsed as the stream arrives, the stream reconnects with `Last-Event-ID` after a drop (1 s,
 * doubling to 15 s), and 401/403/404 stop it. Web APIs only.
 *
 * @module
 */

import { ApiError, authHeaders, errorOf } from "./api.ts";

/** One server-sent event. */
export interface SseFrame {
  /** The `event:` field (`message` when absent). */
  event: string;
  /** The `data:` lines joined with newlines. */
  data: string;
  /** The `id:` field, when sent. */
  id?: string;
}

/** Connection state of a stream, for the "live" indicator. */
export type StreamState = "connecting" | "live" | "retrying" | "closed" | "failed";

/** Options of {@linkcode openStream}. */
export interface OpenStreamOptions {
  /** Called with every frame. Return `"stop"` to end the stream (no reconnect). */
  onFrame: (frame: SseFrame) => void | "stop";
  /** Called when the state changes. */
  onState?: (state: StreamState, error?: ApiError) => void;
  /**
   * Called when the server ends the stream; return `true` to reconnect. @default {() => true}
   */
  shouldReconnect?: () => boolean;
}

/**
 * Split a text buffer into complete SSE frames.
 *
 * @param buffer Text received so far.
 * @returns The frames and the unfinished rest.
 */
export function parseSseChunk(buffer: string): { frames: SseFrame[]; rest: string } {
  const frames: SseFrame[] = [];
  const normalized = buffer.replace(/\r\n?/g, "\n");
  const blocks = normalized.split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let event = "message";
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (data.length === 0 && event === "message") continue;
    frames.push({ event, data: data.join("\n"), ...(id !== undefined && { id }) });
  }
  return { frames, rest };
}

/**
 * Open a server-sent-events stream that reconnects until it is stopped.
 *
 * @param path Path and query of the watch endpoint.
 * @param options Frame and state callbacks.
 * @returns A function that stops the stream.
 */
export function openStream(path: string, options: OpenStreamOptions): () => void {
  const abort = new AbortController();
  let lastId: string | undefined;
  let delay = 1000;
  let stopped = false;
  const setState = (s: StreamState, e?: ApiError) => options.onState?.(s, e);
  const stop = () => {
    if (stopped) return;
    stopped = true;
    abort.abort();
    setState("closed");
  };

  (async () => {
    while (!stopped) {
      setState("connecting");
      const headers = authHeaders({ accept: "text/event-stream" });
      if (lastId !== undefined) headers.set("last-event-id", lastId);
      let res: Response | null = null;
      try {
        res = await fetch(path, { headers, signal: abort.signal, cache: "no-store" });
      } catch {
        res = null;
      }
      if (stopped) return;
      if (res !== null && !res.ok) {
        const err = await errorOf(res);
        if ([401, 403, 404, 422].includes(res.status)) {
          stopped = true;
          setState("failed", err);
          return;
        }
      } else if (res !== null && res.body) {
        setState("live");
        delay = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        try {
          while (!stopped) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            const { frames, rest } = parseSseChunk(buffer);
            buffer = rest;
            for (const frame of frames) {
              if (frame.id !== undefined) lastId = frame.id;
              if (options.onFrame(frame) === "stop") {
                stop();
                return;
              }
            }
          }
        } catch { /* dropped: reconnect below */ }
        if (stopped) return;
        if (options.shouldReconnect && !options.shouldReconnect()) {
          stopped = true;
          setState("closed");
          return;
        }
      }
      setState("retrying");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  })();
  return stop;
}
