import assert from "node:assert/strict";
import { PyocoClient, PyocoHttpError } from "../../src/client/mod.ts";
import { startStack } from "./_stack.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { poll } from "../_helpers/poll.ts";

const YAML = `version: 1
flow:
  graph: "say"
  defaults: { greeting: "hi" }
tasks:
  say: { callable: "pyoco:echo", inputs: { value: $flow.greeting } }
`;

/** A fetch that counts `POST /runs/batch` requests and passes them on. */
function countingFetch() {
  const bodies: { runs: unknown[] }[] = [];
  const f: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname === "/runs/batch") bodies.push(JSON.parse(String(init?.body)));
    return fetch(input, init);
  };
  return { fetch: f, bodies };
}

Deno.test("PyocoClient batch submit and schedules against a real gateway", async (t) => {
  await using stack = await startStack();
  const counting = countingFetch();
  const client = new PyocoClient({ baseUrl: stack.url, fetch: counting.fetch });

  try {
    await t.step("submitRuns() chunks, answers every run in its place", async () => {
      const progress: number[] = [];
      const items = await client.submitRuns([
        { flowName: "hello", params: { x: 1 } },
        { flowName: "hello", params: "oops" as unknown as Record<string, unknown> },
        { flowName: "hello", params: { x: 3 }, idempotencyKey: "k-3" },
        { flowName: "helo" },
        { flowName: "hello", params: { x: 5 }, tag: "default", priority: "high" },
      ], { chunkSize: 2, onProgress: (p) => progress.push(p.done) });
      assert.deepEqual(items.map((i) => i.index), [0, 1, 2, 3, 4]);
      assert.deepEqual(items.map((i) => "run_id" in i), [true, false, true, false, true]);
      assert.deepEqual(progress, [2, 4, 5]);
      assert.equal(counting.bodies.length, 3);
      assert.deepEqual(counting.bodies.map((b) => b.runs.length), [2, 2, 1]);
      const bad = items[1]!;
      assert.ok("error" in bad);
      assert.equal(bad.error.err_id, "ERR-PYOCO-0002");
      const typo = items[3]!;
      assert.ok("error" in typo);
      assert.equal(typo.error.err_id, "ERR-PYOCO-0006");
      assert.match(typo.error.detail, /hello/);
      const ok = items[4]!;
      assert.ok("run_id" in ok);
      const run = await client.waitForRun(ok.run_id, { timeoutMs: 20_000 });
      assert.equal(run.status, "COMPLETED");
      assert.deepEqual(run.params, { x: 5 });
      // The same idempotency key again answers the same run.
      const [again] = await client.submitRuns([
        { flowName: "hello", params: { x: 3 }, idempotencyKey: "k-3" },
      ]);
      assert.ok(again && "run_id" in again && "run_id" in items[2]!);
      assert.equal(again.run_id, items[2]!.run_id);
    });

    await t.step("submitRuns() halves its requests for a gateway that takes fewer", async () => {
      await using small = await startGatewayProcess({
        natsUrl: stack.nats.url,
        env: { PYOCO_BATCH_MAX_RUNS: "2" },
      });
      const counted = countingFetch();
      const c = new PyocoClient({ baseUrl: small.url, fetch: counted.fetch });
      const runs = Array.from({ length: 5 }, (_, i) => ({ flowName: "hello", params: { x: i } }));
      const items = await c.submitRuns(runs);
      assert.deepEqual(items.map((i) => i.index), [0, 1, 2, 3, 4]);
      assert.ok(items.every((i) => "run_id" in i), JSON.stringify(items));
      // 5 refused → 3 (refused → 2 + 1) and 2: every run sent once in a request it accepted.
      assert.deepEqual(counted.bodies.map((b) => b.runs.length), [5, 3, 2, 1, 2]);
      const params = await Promise.all(
        items.map(async (i) => "run_id" in i ? (await c.getRun(i.run_id)).params : null),
      );
      assert.deepEqual(params, runs.map((r) => r.params));
    });

    await t.step("submitRuns() refuses malformed input before sending", () => {
      assert.throws(
        () => client.submitRuns([{ flowName: "hello" }], { chunkSize: 501 }),
        TypeError,
      );
      assert.throws(
        () => client.submitRuns([{ flowName: "hello", idempotencyKey: "" }]),
        /idempotencyKey/,
      );
    });

    let scheduleId = "";
    await t.step("createSchedule() every second submits runs that carry its id", async () => {
      const s = await client.createSchedule({
        flowName: "hello",
        intervalSeconds: 1,
        params: { x: 9 },
        overlap: "allow",
      });
      scheduleId = s.schedule_id;
      assert.equal(s.schedule_type, "interval");
      assert.equal(s.interval_seconds, 1);
      assert.equal(s.overlap, "allow");
      assert.equal(s.paused, false);
      assert.equal(typeof s.next_run_at, "number");
      const runs = await poll(async () => {
        const rows = await client.scheduleRuns(scheduleId);
        return rows.length >= 2 && rows.some((r) => r.status === "COMPLETED") ? rows : null;
      }, { timeoutMs: 20_000, message: "two runs of the schedule" });
      assert.ok(runs[0]!.scheduled_for >= runs[1]!.scheduled_for, "newest first");
      const run = await client.getRun(runs[0]!.run_id);
      assert.deepEqual(run.params, { x: 9 });
      assert.equal((run as { schedule_id?: string }).schedule_id, scheduleId);
      const listed = await client.listSchedules();
      assert.ok(listed.some((x) => x.schedule_id === scheduleId));
    });

    await t.step("pause, update, resume, trigger and delete", async () => {
      const paused = await client.pauseSchedule(scheduleId);
      assert.equal(paused.paused, true);
      const changed = await client.updateSchedule(scheduleId, { params: { x: 10 } });
      assert.deepEqual(changed.params, { x: 10 });
      assert.equal(changed.paused, true);
      const trigger = await client.triggerSchedule(scheduleId);
      assert.equal(trigger.status, "PENDING");
      assert.equal(trigger.schedule_id, scheduleId);
      const run = await client.waitForRun(trigger.run_id, { timeoutMs: 20_000 });
      assert.deepEqual(run.params, { x: 10 });
      const resumed = await client.resumeSchedule(scheduleId);
      assert.equal(resumed.paused, false);
      const gone = await client.deleteSchedule(scheduleId);
      assert.deepEqual(gone, { schedule_id: scheduleId, deleted: true });
      await assert.rejects(
        () => client.getSchedule(scheduleId),
        (err) =>
          err instanceof PyocoHttpError && err.status === 404 &&
          err.errId === "ERR-PYOCO-0025",
      );
    });

    await t.step("createScheduleYaml() with an ISO run_at and a Date end", async () => {
      const at = new Date(Date.now() + 3_600_000);
      const s = await client.createScheduleYaml({
        workflowYaml: YAML,
        flowName: "yaml_sched",
        runAt: at.toISOString(),
        params: { greeting: "hello" },
      });
      assert.equal(s.schedule_type, "once");
      assert.equal(s.run_at, at.getTime() / 1000);
      assert.deepEqual(s.params, { greeting: "hello" });
      assert.match(s.workflow_yaml_sha256 ?? "", /^[0-9a-f]{64}$/);
      const cron = await client.createSchedule({
        flowName: "hello",
        cron: "0 6 * * *",
        timezone: "Asia/Tokyo",
        endAt: new Date(Date.now() + 86_400_000 * 30),
        paused: true,
      });
      assert.equal(cron.schedule_type, "cron");
      assert.equal(cron.timezone, "Asia/Tokyo");
      assert.equal(cron.paused, true);
      // 06:00 in Tokyo is 21:00 UTC.
      assert.equal(new Date(cron.next_run_at! * 1000).getUTCHours(), 21);
      await client.deleteSchedule(s.schedule_id);
      await client.deleteSchedule(cron.schedule_id);
    });

    await t.step("bad schedules answer 422 naming the field or the flow", async () => {
      await assert.rejects(
        () => client.createSchedule({ flowName: "hello", cron: "61 * * * *" }),
        (err) =>
          err instanceof PyocoHttpError && err.status === 422 &&
          err.errors.some((e) => e.path === "cron"),
      );
      await assert.rejects(
        () => client.createSchedule({ flowName: "helo", intervalSeconds: 60 }),
        (err) =>
          err instanceof PyocoHttpError && err.status === 422 && err.errId === "ERR-PYOCO-0006" &&
          /hello/.test(err.detail),
      );
    });
  } catch (err) {
    console.error(stack.logs());
    throw err;
  }
});
