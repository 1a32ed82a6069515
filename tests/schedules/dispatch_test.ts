import assert from "node:assert/strict";
import { slotKey, slotRunId } from "../../src/runs/schedules/mod.ts";
import { FakeClock, scheduleFixture } from "./_setup.ts";

const T0 = 1_900_000_000; // a whole second, far from any real clock

Deno.test("two dispatchers ticking together dispatch every slot exactly once", async () => {
  await using fx = await scheduleFixture();
  const rec = await fx.create({
    flow_name: "hello",
    interval_seconds: 1,
    start_at: T0 + 1,
    overlap: "allow",
  }, T0);
  const clock = new FakeClock(T0);
  const a = fx.dispatcher(clock, "gw-a");
  const b = fx.dispatcher(clock, "gw-b");
  for (let i = 1; i <= 10; i++) {
    clock.t = T0 + i + 0.1;
    await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
  }
  const runs = await fx.runsOf(rec.schedule_id);
  assert.deepEqual(
    runs.map((r) => r.scheduled_for),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => T0 + i),
  );
  for (const r of runs) {
    assert.equal(r.run_id, await slotRunId(rec.schedule_id, r.scheduled_for!));
    assert.equal(r.status, "PENDING");
  }
  const after = await fx.read(rec.schedule_id);
  assert.equal(after.dispatch_count, 10);
  assert.equal(after.skipped_slots, 0);
  assert.equal(after.last_run_id, runs.at(-1)!.run_id);
  assert.equal(after.next_run_at, T0 + 11);
  assert.deepEqual(after.outbox, []);
});

Deno.test("catch-up after every gateway was down: window 5 runs the last slots, window 0 skips them", async () => {
  await using fx = await scheduleFixture();
  const clock = new FakeClock(T0);
  const withWindow = await fx.create({
    flow_name: "hello",
    interval_seconds: 1,
    start_at: T0 + 1,
    overlap: "allow",
    catchup_window_sec: 5,
  }, T0);
  const noWindow = await fx.create({
    flow_name: "hello",
    interval_seconds: 1,
    start_at: T0 + 1,
    overlap: "allow",
  }, T0);
  const d = fx.dispatcher(clock, "gw");
  clock.t = T0 + 1.2;
  await d.tick();
  clock.t = T0 + 11.5; // down for 10 s
  await d.tick();
  const a = await fx.runsOf(withWindow.schedule_id);
  assert.deepEqual(a.map((r) => r.scheduled_for! - T0), [1, 7, 8, 9, 10, 11]);
  assert.equal((await fx.read(withWindow.schedule_id)).skipped_slots, 5);
  const b = await fx.runsOf(noWindow.schedule_id);
  // Only the slots within the 2 s on-time grace run; the rest are counted as skipped.
  assert.deepEqual(b.map((r) => r.scheduled_for! - T0), [1, 10, 11]);
  assert.equal((await fx.read(noWindow.schedule_id)).skipped_slots, 8);
});

Deno.test("overlap skip holds new runs back while the last one is not terminal; buffer_one keeps one", async () => {
  await using fx = await scheduleFixture();
  const clock = new FakeClock(T0);
  const skip = await fx.create({ flow_name: "hello", interval_seconds: 1, start_at: T0 + 1 }, T0);
  const buffer = await fx.create({
    flow_name: "hello",
    interval_seconds: 1,
    start_at: T0 + 1,
    overlap: "buffer_one",
  }, T0);
  const d = fx.dispatcher(clock, "gw");
  for (let i = 1; i <= 4; i++) {
    clock.t = T0 + i + 0.1;
    await d.tick();
  }
  // No worker: the first run stays PENDING (not terminal), so slots 2..4 are held back.
  assert.deepEqual((await fx.runsOf(skip.schedule_id)).map((r) => r.scheduled_for! - T0), [1]);
  assert.equal((await fx.read(skip.schedule_id)).skipped_slots, 3);
  const buf = await fx.read(buffer.schedule_id);
  assert.equal(buf.buffered_slot, T0 + 2);
  assert.equal(buf.skipped_slots, 2);
  // The first run ends: the buffered slot runs at the next pass.
  const first = (await fx.runsOf(buffer.schedule_id))[0]!;
  const entry = (await fx.gw.reader.runs.get(first.run_id))!;
  await fx.gw.reader.runs.put(
    first.run_id,
    JSON.stringify({ ...first, status: "COMPLETED" }),
    { previousSeq: entry.revision },
  );
  clock.t = T0 + 4.5;
  await d.tick();
  assert.deepEqual((await fx.runsOf(buffer.schedule_id)).map((r) => r.scheduled_for! - T0), [1, 2]);
  assert.equal((await fx.read(buffer.schedule_id)).buffered_slot, null);
});

Deno.test("a slot decided by a gateway that died is dispatched once by another after the lease", async () => {
  await using fx = await scheduleFixture();
  const clock = new FakeClock(T0);
  const rec = await fx.create({
    flow_name: "hello",
    interval_seconds: 1,
    start_at: T0 + 1,
    overlap: "allow",
  }, T0);
  const id = rec.schedule_id;
  const runId = await slotRunId(id, T0 + 1);
  // "gw-dead" decided slot 1 and claimed it, then died before submitting.
  await fx.ctx.store.update(id, (r) => ({
    ...r,
    next_run_at: T0 + 2,
    outbox: [{ slot: T0 + 1, run_id: runId, decided_at: T0 + 1, owner: "gw-dead" }],
  }));
  await fx.ctx.store.kv.create(
    slotKey(id, T0 + 1),
    JSON.stringify({
      slot: T0 + 1,
      run_id: runId,
      owner: "gw-dead",
      claimed_at: T0 + 1,
      state: "claimed",
    }),
  );
  const b = fx.dispatcher(clock, "gw-b", 30);
  clock.t = T0 + 1.5; // inside the lease: not taken over (slot 2 is not due yet either)
  await b.tick();
  assert.equal((await fx.runsOf(id)).length, 0);
  clock.t = T0 + 31.5; // lease over: taken over, and the slots due meanwhile decided
  await b.tick();
  await b.tick();
  const runs = await fx.runsOf(id);
  assert.equal(runs.filter((r) => r.scheduled_for === T0 + 1).length, 1);
  assert.equal(runs[0]!.run_id, runId);
  const claim = (await fx.ctx.store.kv.get(slotKey(id, T0 + 1)))!.json<
    { state: string; owner: string }
  >();
  assert.deepEqual([claim.state, claim.owner], ["submitted", "gw-b"]);
});

Deno.test("a claimed slot whose run already exists is recorded, not submitted again", async () => {
  await using fx = await scheduleFixture();
  const clock = new FakeClock(T0);
  const rec = await fx.create({
    flow_name: "hello",
    interval_seconds: 1,
    start_at: T0 + 1,
    overlap: "allow",
  }, T0);
  const id = rec.schedule_id;
  const a = fx.dispatcher(clock, "gw-a");
  clock.t = T0 + 1.1;
  await a.tick();
  const [run] = await fx.runsOf(id);
  // Pretend gw-a died after submitting but before recording: put the slot back in the outbox.
  await fx.ctx.store.update(id, (r) => ({
    ...r,
    outbox: [{ slot: T0 + 1, run_id: run!.run_id, decided_at: T0 + 1, owner: "gw-a" }],
  }));
  const claimKey = slotKey(id, T0 + 1);
  const claim = (await fx.ctx.store.kv.get(claimKey))!;
  await fx.ctx.store.kv.update(
    claimKey,
    JSON.stringify({ ...claim.json<object>(), state: "claimed", claimed_at: T0 + 1 }),
    claim.revision,
  );
  const b = fx.dispatcher(clock, "gw-b", 30);
  clock.t = T0 + 40;
  await b.tick();
  assert.equal((await fx.runsOf(id)).filter((r) => r.scheduled_for === T0 + 1).length, 1);
  assert.deepEqual((await fx.read(id)).outbox.filter((o) => o.slot === T0 + 1), []);
});

Deno.test("a cron schedule in a time zone dispatches across a DST change at the library's instants", async () => {
  await using fx = await scheduleFixture();
  const start = Date.parse("2026-03-07T12:00:00Z") / 1000;
  const clock = new FakeClock(start);
  const rec = await fx.create({
    flow_name: "hello",
    cron: "30 2 * * *",
    timezone: "America/New_York",
    overlap: "allow",
  }, start);
  const d = fx.dispatcher(clock, "gw");
  const expected = ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]
    .map((s) => Date.parse(s) / 1000);
  for (const at of expected) {
    clock.t = at - 0.5;
    await d.tick();
    clock.t = at + 0.5;
    await d.tick();
  }
  const runs = await fx.runsOf(rec.schedule_id);
  assert.deepEqual(runs.map((r) => r.scheduled_for), expected);
  assert.equal((await fx.read(rec.schedule_id)).skipped_slots, 0);
});

Deno.test("a paused schedule decides nothing; on resume it goes on from the next slot", async () => {
  await using fx = await scheduleFixture();
  const clock = new FakeClock(T0);
  const rec = await fx.create({
    flow_name: "hello",
    interval_seconds: 1,
    start_at: T0 + 1,
    overlap: "allow",
    paused: true,
  }, T0);
  const d = fx.dispatcher(clock, "gw");
  clock.t = T0 + 5.5;
  await d.tick();
  assert.equal((await fx.runsOf(rec.schedule_id)).length, 0);
  const { applyPatch } = await import("../../src/runs/schedules/mod.ts");
  await fx.ctx.store.update(rec.schedule_id, (r) => applyPatch(r, { paused: false }, clock.t));
  clock.t = T0 + 6.2;
  await d.tick();
  const runs = await fx.runsOf(rec.schedule_id);
  assert.deepEqual(runs.map((r) => r.scheduled_for! - T0), [6]);
  assert.equal((await fx.read(rec.schedule_id)).skipped_slots, 0);
});

Deno.test("slot claims older than an hour are purged, so the bucket does not grow with every slot", async () => {
  await using fx = await scheduleFixture();
  const clock = new FakeClock(T0);
  const rec = await fx.create({
    flow_name: "hello",
    interval_seconds: 1,
    start_at: T0 + 1,
    overlap: "allow",
  }, T0);
  const d = fx.dispatcher(clock, "gw");
  for (let i = 1; i <= 3; i++) {
    clock.t = T0 + i + 0.1;
    await d.tick();
  }
  const claims = async () => {
    const keys: string[] = [];
    for await (const k of await fx.ctx.store.kv.keys(`sched.${rec.schedule_id}.*`)) keys.push(k);
    return keys.sort();
  };
  assert.deepEqual(await claims(), [1, 2, 3].map((i) => slotKey(rec.schedule_id, T0 + i)));
  clock.t = T0 + 7200.1;
  await d.tick();
  // The slots of the last 2 s (on-time grace) ran; the claims of the first three are gone.
  assert.deepEqual(await claims(), [7199, 7200].map((i) => slotKey(rec.schedule_id, T0 + i)));
  const after = await fx.read(rec.schedule_id);
  assert.equal(after.dispatch_count, 5);
  assert.equal(after.skipped_slots, 7195);
});
