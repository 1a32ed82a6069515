import assert from "node:assert/strict";
import { readSseEvents } from "../../src/client/_sse.ts";
import type { SseEvent } from "../../src/client/_sse.ts";

function _stream(
  chunks: (string | Uint8Array)[],
  onCancel?: () => void,
): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(typeof chunk === "string" ? enc.encode(chunk) : chunk);
    },
    cancel() {
      onCancel?.();
    },
  });
}

async function _all(stream: ReadableStream<Uint8Array>): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of readSseEvents(stream)) out.push(e);
  return out;
}

Deno.test("readSseEvents() yields named events with ids and multi-line data", async () => {
  const events = await _all(_stream([
    'event: snapshot\nid: 7\ndata: {"status":\ndata: "RUNNING"}\n\n',
    "event: heartbeat\ndata: \n\n",
    "data: plain\n\n",
  ]));
  assert.deepEqual(events, [
    { event: "snapshot", data: '{"status":\n"RUNNING"}', id: "7" },
    { event: "heartbeat", data: "" },
    { event: "message", data: "plain" },
  ]);
  assert.deepEqual(JSON.parse(events[0]!.data), { status: "RUNNING" });
});

Deno.test("readSseEvents() joins events split across chunks, even inside a UTF-8 character", async () => {
  const bytes = new TextEncoder().encode('event: snapshot\ndata: {"name":"täsk→"}\n\n');
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.slice(i, i + 3));
  const events = await _all(_stream(chunks));
  assert.deepEqual(events, [{ event: "snapshot", data: '{"name":"täsk→"}' }]);
});

Deno.test("readSseEvents() accepts CRLF and CR line endings", async () => {
  const events = await _all(_stream(["event: a\r\ndata: 1\r\n\r\n", "event: b\rdata: 2\r\r"]));
  assert.deepEqual(events.map((e) => [e.event, e.data]), [["a", "1"], ["b", "2"]]);
});

Deno.test("readSseEvents() reports comments as liveness and drops an unterminated last event", async () => {
  const events = await _all(_stream([": keep-alive\n\n", "event: snapshot\ndata: {}\n"]));
  assert.deepEqual(events, [{ event: "comment", data: "keep-alive" }]);
});

Deno.test("readSseEvents() cancels the stream when the reader stops early", async () => {
  let cancelled = false;
  const stream = _stream(
    [
      "event: snapshot\ndata: 1\n\n",
      "event: snapshot\ndata: 2\n\n",
      "event: snapshot\ndata: 3\n\n",
    ],
    () => cancelled = true,
  );
  for await (const e of readSseEvents(stream)) {
    assert.equal(e.data, "1");
    break;
  }
  assert.equal(cancelled, true);
});
