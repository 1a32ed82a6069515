import assert from "node:assert/strict";
import { parseSseChunk } from "./sse.ts";

Deno.test("parseSseChunk() returns complete frames and keeps the unfinished rest", () => {
  const { frames, rest } = parseSseChunk(
    'event: snapshot\nid: 7\ndata: {"a":1}\n\n: comment\n\nevent: heartbeat\r\ndata: {}\r\n\r\nevent: summ',
  );
  assert.deepEqual(frames, [
    { event: "snapshot", data: '{"a":1}', id: "7" },
    { event: "heartbeat", data: "{}" },
  ]);
  assert.equal(rest, "event: summ");
  const next = parseSseChunk(`${rest}ary\ndata: line1\ndata: line2\n\n`);
  assert.deepEqual(next.frames, [{ event: "summary", data: "line1\nline2" }]);
  assert.equal(next.rest, "");
});
