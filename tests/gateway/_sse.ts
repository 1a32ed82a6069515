/**
 * Test reader of a server-sent-events body: `next()` gives the next frame (or `null` once the
 * stream has ended) and fails the test instead of hanging.
 *
 * @module
 */

/** One SSE frame. */
export interface SseFrame {
  event: string;
  id: string | undefined;
  data: string;
  /** `data` parsed as JSON. */
  json: Record<string, unknown>;
}

/** Reads frames from an SSE response. */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #done = false;

  constructor(res: Response) {
    if (!res.body) throw new Error("The response has no body");
    this.#reader = res.body.getReader();
  }

  /** Whether the stream has ended. */
  get done(): boolean {
    return this.#done && !this.#buffer.includes("\n\n");
  }

  /**
   * The next frame, or `null` when the stream ended.
   *
   * @param timeoutMs Fail after this long.
   */
  async next(timeoutMs = 10_000): Promise<SseFrame | null> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return _parse(block);
      }
      if (this.#done) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No SSE frame within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), left)));
      const read = await Promise.race([this.#reader.read(), timeout]);
      clearTimeout(timer);
      if (read === "timeout") throw new Error(`No SSE frame within ${timeoutMs} ms`);
      if (read.done) this.#done = true;
      else this.#buffer += this.#decoder.decode(read.value, { stream: true });
    }
  }

  /** The next frame that is not a heartbeat (or `null` at the end). */
  async nextNonHeartbeat(timeoutMs = 10_000): Promise<SseFrame | null> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const frame = await this.next(Math.max(1, deadline - Date.now()));
      if (frame === null || frame.event !== "heartbeat") return frame;
    }
  }

  /** Stop reading (the server sees the client go away). */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

function _parse(block: string): SseFrame {
  let event = "message";
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split("\n")) {
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "id") id = value;
    else if (field === "data") data.push(value);
  }
  const text = data.join("\n");
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch { /* not JSON */ }
  return { event, id, data: text, json };
}
