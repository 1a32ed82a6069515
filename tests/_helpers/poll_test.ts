import assert from "node:assert/strict";
import { poll, PollTimeoutError, StopPolling } from "./poll.ts";

Deno.test("poll() returns the first truthy value", async () => {
  let calls = 0;
  const value = await poll(() => (++calls >= 3 ? { calls } : null), { intervalMs: 1 });
  assert.deepEqual(value, { calls: 3 });
});

Deno.test("poll() treats a throwing attempt as not yet, then returns", async () => {
  let calls = 0;
  const value = await poll(async () => {
    await Promise.resolve();
    if (++calls < 3) throw new Error("not yet");
    return "done";
  }, { intervalMs: 1 });
  assert.equal(value, "done");
});

Deno.test("poll() times out with the message and the last value", async () => {
  let n = 0;
  const err = await poll(() => (n++, 0), { timeoutMs: 50, intervalMs: 5, message: () => `x ${n}` })
    .catch((e) => e);
  assert.ok(err instanceof PollTimeoutError);
  assert.match(
    err.message,
    /^Timed out after 50 ms waiting for x \d+ \(\d+ attempts, last value: 0\)$/,
  );
  assert.equal(err.lastValue, 0);
  assert.equal(err.lastError, undefined);
  assert.ok(err.attempts >= 2);
});

Deno.test("poll() times out with the last error as cause", async () => {
  const boom = new Error("boom");
  const err = await poll(() => {
    throw boom;
  }, { timeoutMs: 30, intervalMs: 5, message: "the thing" }).catch((e) => e);
  assert.ok(err instanceof PollTimeoutError);
  assert.match(err.message, /waiting for the thing .*last error: Error: boom\)$/);
  assert.equal(err.cause, boom);
});

Deno.test("poll() rethrows StopPolling at once", async () => {
  let calls = 0;
  const err = await poll(() => {
    calls++;
    throw new StopPolling("gone");
  }, { timeoutMs: 5_000 }).catch((e) => e);
  assert.ok(err instanceof StopPolling);
  assert.equal(calls, 1);
});

Deno.test("poll() with retryErrors: false rethrows the first error", async () => {
  let calls = 0;
  const err = await poll(() => {
    calls++;
    throw new RangeError("invariant");
  }, { retryErrors: false }).catch((e) => e);
  assert.ok(err instanceof RangeError);
  assert.equal(calls, 1);
});

Deno.test("poll() does not wait past its deadline for a hung attempt", async () => {
  let release = () => {};
  const hung = new Promise<boolean>((r) => (release = () => r(false)));
  const started = performance.now();
  const err = await poll(() => hung, { timeoutMs: 40 }).catch((e) => e);
  assert.ok(err instanceof PollTimeoutError);
  assert.match(err.message, /the last attempt was still running/);
  assert.ok(performance.now() - started < 2_000);
  release();
});

Deno.test("poll() rejects with the signal's reason when aborted", async () => {
  const ac = new AbortController();
  const pending = poll(() => false, { timeoutMs: 10_000, intervalMs: 1_000, signal: ac.signal });
  ac.abort(new Error("stop"));
  const err = await pending.catch((e) => e);
  assert.equal(err.message, "stop");
});

Deno.test("poll() rejects bad options", async () => {
  await assert.rejects(poll(() => true, { timeoutMs: -1 }), RangeError);
  await assert.rejects(poll(() => true, { intervalMs: Number.NaN }), RangeError);
});
