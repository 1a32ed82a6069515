import assert from "node:assert/strict";
import {
  MAX_CATCHUP_SLOTS,
  nextSlot,
  parseTime,
  planDue,
  type ScheduleRule,
} from "../../src/runs/schedules/mod.ts";

const t = (iso: string) => Date.parse(iso) / 1000;

function rule(fields: Partial<ScheduleRule>): ScheduleRule {
  return {
    cron: null,
    timezone: null,
    interval_seconds: null,
    run_at: null,
    start_at: null,
    end_at: null,
    ...fields,
  };
}

function slots(r: ScheduleRule, from: number, n: number): string[] {
  const out: string[] = [];
  let at: number | null = from;
  for (let i = 0; i < n && at !== null; i++) {
    at = nextSlot(r, at);
    if (at !== null) out.push(new Date(at * 1000).toISOString());
  }
  return out;
}

Deno.test("nextSlot() runs a cron slot inside the spring-forward gap at the first valid time after it", () => {
  // America/New_York, 2026-03-08: 02:00 EST -> 03:00 EDT; 02:30 does not exist that day.
  const r = rule({ cron: "30 2 * * *", timezone: "America/New_York" });
  assert.deepEqual(slots(r, t("2026-03-07T00:00:00Z"), 3), [
    "2026-03-07T07:30:00.000Z", // 02:30 EST
    "2026-03-08T07:00:00.000Z", // 03:00 EDT: the gap's 02:30 runs when the clock lands
    "2026-03-09T06:30:00.000Z", // 02:30 EDT
  ]);
});

Deno.test("nextSlot() runs a daily cron slot in the fall-back overlap once, at its first occurrence", () => {
  // 2026-11-01: 02:00 EDT -> 01:00 EST; 01:30 happens twice.
  const r = rule({ cron: "30 1 * * *", timezone: "America/New_York" });
  assert.deepEqual(slots(r, t("2026-10-31T00:00:00Z"), 3), [
    "2026-10-31T05:30:00.000Z",
    "2026-11-01T05:30:00.000Z", // 01:30 EDT only, not again at 01:30 EST
    "2026-11-02T06:30:00.000Z",
  ]);
});

Deno.test("nextSlot() keeps every real instant of a sub-hourly cron through the fall-back hour", () => {
  const r = rule({ cron: "0,30 * * * *", timezone: "America/New_York" });
  const got = slots(r, t("2026-11-01T04:50:00Z"), 6);
  assert.deepEqual(got, [
    "2026-11-01T05:00:00.000Z", // 01:00 EDT
    "2026-11-01T05:30:00.000Z", // 01:30 EDT
    "2026-11-01T06:00:00.000Z", // 01:00 EST
    "2026-11-01T06:30:00.000Z", // 01:30 EST
    "2026-11-01T07:00:00.000Z",
    "2026-11-01T07:30:00.000Z",
  ]);
});

Deno.test("nextSlot() reads a 6-field cron as seconds first and honours start_at and end_at", () => {
  const r = rule({
    cron: "*/20 * * * * *",
    timezone: "UTC",
    start_at: t("2026-01-01T00:00:30Z"),
    end_at: t("2026-01-01T00:01:00Z"),
  });
  assert.deepEqual(slots(r, t("2026-01-01T00:00:00Z"), 5), [
    "2026-01-01T00:00:40.000Z",
    "2026-01-01T00:01:00.000Z",
  ]);
});

Deno.test("nextSlot() makes interval slots from the anchor and a one-shot slot once", () => {
  const r = rule({ interval_seconds: 10, start_at: 1000 });
  assert.equal(nextSlot(r, 0), 1000);
  assert.equal(nextSlot(r, 1000), 1010);
  assert.equal(nextSlot(r, 1015.5), 1020);
  const once = rule({ run_at: 2000.2 });
  assert.equal(nextSlot(once, 1000), 2001);
  assert.equal(nextSlot(once, 2001), null);
});

Deno.test("planDue() skips and counts missed slots when catchup_window_sec is 0", () => {
  const r = { ...rule({ interval_seconds: 1, start_at: 1000 }), catchup_window_sec: 0 };
  // Every gateway was down from 1001 to 1010.3: only the slots of the last 2 s grace run.
  const plan = planDue({ ...r, next_run_at: 1001 }, 1010.3);
  assert.deepEqual(plan, { run: [1009, 1010], skipped: 8, next: 1011 });
  assert.equal(planDue({ ...r, next_run_at: 1011 }, 1010.3), null);
});

Deno.test("planDue() runs missed slots inside the window oldest first, at most 10", () => {
  const r = { ...rule({ interval_seconds: 1, start_at: 1000 }), catchup_window_sec: 60 };
  const plan = planDue({ ...r, next_run_at: 1001 }, 1040);
  assert.equal(plan?.run.length, MAX_CATCHUP_SLOTS);
  assert.deepEqual(plan?.run, [1031, 1032, 1033, 1034, 1035, 1036, 1037, 1038, 1039, 1040]);
  assert.equal(plan?.skipped, 30);
  // A year of downtime costs no more work: counted arithmetically.
  const long = planDue({ ...r, next_run_at: 1001 }, 1000 + 365 * 86400);
  assert.equal(long?.skipped, 365 * 86400 - 10);
});

Deno.test("planDue() counts missed cron slots and stops at end_at", () => {
  const r = {
    ...rule({ cron: "* * * * *", timezone: "UTC", end_at: t("2026-01-01T01:00:00Z") }),
    catchup_window_sec: 120,
  };
  const plan = planDue({ ...r, next_run_at: t("2026-01-01T00:01:00Z") }, t("2026-01-01T05:00:00Z"));
  assert.equal(plan?.run.length, 0); // all later than the window
  assert.equal(plan?.skipped, 60);
  assert.equal(plan?.next, null);
});

Deno.test("planDue() always runs a late one-shot", () => {
  const r = { ...rule({ run_at: 1000 }), catchup_window_sec: 0 };
  assert.deepEqual(planDue({ ...r, next_run_at: 1000 }, 99_999), {
    run: [1000],
    skipped: 0,
    next: null,
  });
});

Deno.test("parseTime() takes unix seconds and ISO 8601 with an offset, nothing else", () => {
  assert.equal(parseTime("2026-03-08T02:30:00-05:00"), t("2026-03-08T07:30:00Z"));
  assert.equal(parseTime("1767225600"), 1767225600);
  assert.ok(typeof parseTime("2026-03-08T02:30:00") === "object");
  assert.ok(typeof parseTime("tomorrow") === "object");
  assert.ok(typeof parseTime(-1) === "object");
});
