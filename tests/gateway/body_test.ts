/** Request bodies under the cap: one buffer, reused buffers, depth refused from the bytes. */
import assert from "node:assert/strict";
import { readBodyCapped, readJsonBody } from "../../src/gateway/body.ts";
import { HttpError } from "../../src/gateway/errors.ts";

/** A request whose body arrives in `parts` chunks with no Content-Length. */
function chunked(text: string, parts: number, type = "application/json"): Request {
  const bytes = new TextEncoder().encode(text);
  const size = Math.ceil(bytes.byteLength / parts);
  let at = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.byteLength) return c.close();
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
  return new Request("http://gw/runs", { method: "POST", body, headers: { "content-type": type } });
}

function json(text: string): Request {
  return new Request("http://gw/runs", {
    method: "POST",
    body: text,
    headers: { "content-type": "application/json", "content-length": String(text.length) },
  });
}

Deno.test("readJsonBody() reads chunked and declared bodies, one after another, intact", async () => {
  const big = JSON.stringify({ flow_name: "a", params: { x: "y".repeat(200_000) } });
  const small = JSON.stringify({ flow_name: "b" });
  // A reused buffer must not leak the previous body's bytes into the next one.
  assert.deepEqual(await readJsonBody(chunked(big, 7), 1 << 20), JSON.parse(big));
  assert.deepEqual(await readJsonBody(chunked(small, 2), 1 << 20), { flow_name: "b" });
  assert.deepEqual(await readJsonBody(json(big), 1 << 20), JSON.parse(big));
  assert.deepEqual(await readJsonBody(json(small), 1 << 20), { flow_name: "b" });
});

Deno.test("readBodyCapped() grows its buffer for a chunked body under a large cap", async () => {
  const text = "z".repeat(300_000);
  const bytes = await readBodyCapped(chunked(text, 9), 64 << 20);
  assert.equal(bytes.byteLength, 300_000);
  assert.equal(new TextDecoder().decode(bytes), text);
});

Deno.test("readBodyCapped() answers 413 for a chunked body past the cap", async () => {
  for (const cap of [1 << 20, 64 << 20]) {
    const err = await readBodyCapped(chunked("q".repeat(cap + 10), 5), cap).catch((e) => e);
    assert.ok(err instanceof HttpError && err.status === 413, String(err));
  }
});

Deno.test("readJsonBody() refuses JSON nested past 72 levels, naming the top-level key", async () => {
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  const err = await readJsonBody(json(`{"flow_name":"a","tags":${deep(5000)}}`), 1 << 20)
    .catch((e) => e);
  assert.ok(err instanceof HttpError && err.status === 422, String(err));
  assert.equal(err.errors[0]?.path, "tags");
  assert.match(err.errors[0]?.message ?? "", /72 levels.*64 levels/);
  // Brackets inside strings (and escaped quotes) do not count.
  const quoted = JSON.stringify({ flow_name: "a", note: `\\"${"[".repeat(5000)}` });
  assert.deepEqual(await readJsonBody(json(quoted), 1 << 20), JSON.parse(quoted));
  // 71 levels is still parsed (the params rule, 64, is checked later by the route).
  assert.deepEqual(await readJsonBody(json(deep(71)), 1 << 20), JSON.parse(deep(71)));
});
