/// <reference lib="dom" />
/**
 * The management pages in a real headless Chromium against a real stack: the schedules page
 * (pause, resume, trigger now, recent runs) and the "scheduled" badge of a run it started, dead
 * letters deleted and their replays shown (`replayed_as`), and the runs table on a 390 px wide
 * phone screen (no part cut off, ids shown as 8 characters).
 *
 * Where a route of SPEC §14/§15 is not on the gateway yet, the step says so and skips that
 * part. Skipped, with a message, when Chromium is not installed (see `_browser.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { poll } from "../_helpers/poll.ts";
import { api, apiRaw, shot, SKIP, submit, WAIT, withBrowser } from "./_browser.ts";

Deno.test({
  name: "management pages: schedules, dead-letter delete and replays, runs on a phone",
  ignore: SKIP,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withBrowser(t, async ({ stack, page, shots, step }) => {
      let scheduleId = "";
      let triggeredRun = "";
      await step("the schedules page pauses, resumes and triggers a schedule", async () => {
        const created = await apiRaw<{ schedule_id: string }>(stack, "/schedules", {
          method: "POST",
          body: JSON.stringify({
            flow_name: "hello",
            interval_seconds: 3600,
            start_at: Math.floor(Date.now() / 1000) + 3600,
          }),
        });
        if (created.status === 404) {
          console.warn("tests/browser: the schedules API is not there yet: step SKIPPED");
          return;
        }
        assert.equal(created.status, 200, JSON.stringify(created.body));
        scheduleId = created.body.schedule_id;
        await page.goto(`${stack.url}/#/schedules`);
        const row = page.locator(`tr[data-schedule-id="${scheduleId}"]`);
        await row.waitFor(WAIT);
        await row.getByRole("button", { name: `Pause schedule ${scheduleId}` }).click();
        await page.locator(`tr[data-schedule-id="${scheduleId}"][data-paused="true"]`)
          .waitFor(WAIT);
        const paused = await api<{ paused: boolean }>(stack, `/schedules/${scheduleId}`);
        assert.equal(paused.paused, true);
        await row.getByRole("button", { name: `Resume schedule ${scheduleId}` }).click();
        await page.locator(`tr[data-schedule-id="${scheduleId}"][data-paused="false"]`)
          .waitFor(WAIT);
        await row.getByRole("button", { name: `Trigger schedule ${scheduleId} now` }).click();
        const link = page.locator(".banner-ok a");
        await link.waitFor(WAIT);
        triggeredRun = (await link.getAttribute("href"))!.replace("#/runs/", "");
        await page.locator(`[data-schedule-runs="${scheduleId}"] tr[data-run-id="${triggeredRun}"]`)
          .waitFor(WAIT);
        const runs = await api<{ run_id: string; manual?: boolean }[]>(
          stack,
          `/schedules/${scheduleId}/runs`,
        );
        assert.equal(runs[0]?.run_id, triggeredRun);
        await shot(page, shots, "schedules");
      });

      await step("a run a schedule started carries a scheduled badge", async () => {
        if (!scheduleId) {
          console.warn("tests/browser: no schedule (API missing): step SKIPPED");
          return;
        }
        await page.click(`[data-schedule-runs="${scheduleId}"] a[href="#/runs/${triggeredRun}"]`);
        await page.waitForURL(`**/#/runs/${triggeredRun}`, WAIT);
        const badge = page.locator(".page-head .badge-scheduled");
        await badge.waitFor(WAIT);
        assert.equal(await badge.getAttribute("href"), `#/schedules?id=${scheduleId}`);
      });

      await step("a dead letter shows its replays and can be deleted", async () => {
        const runId = await submit(stack, { flow_name: "no_such_flow" });
        const entry = await poll(async () => {
          const list = await api<{ seq: number; run_id: string }[]>(stack, "/dlq");
          return list.find((e) => e.run_id === runId);
        }, { timeoutMs: WAIT.timeout, intervalMs: 100, message: "the dead letter" });
        await page.goto(`${stack.url}/#/dlq`);
        const row = page.locator(`tr[data-dlq-seq="${entry.seq}"]`);
        await row.waitFor(WAIT);
        await row.getByRole("button", { name: `Replay dead letter ${entry.seq}` }).click();
        const replayed = row.locator("[data-replayed-as]");
        await replayed.waitFor(WAIT);
        const newId = (await row.locator(".replayed a").first().getAttribute("href"))!
          .replace("#/runs/", "");
        const listed = (await api<{ seq: number; replayed_as?: string[] }[]>(stack, "/dlq"))
          .find((e) => e.seq === entry.seq);
        if (listed?.replayed_as) {
          // Kept by the gateway: still shown after a reload.
          assert.ok(listed.replayed_as.includes(newId));
          await page.reload();
          await row.locator(`[data-replayed-as*="${newId}"]`).waitFor(WAIT);
        } else {
          console.warn("tests/browser: GET /dlq has no replayed_as yet: reload check SKIPPED");
        }
        await row.getByRole("button", { name: `Delete dead letter ${entry.seq}` }).click();
        await row.getByRole("button", { name: "Yes, delete" }).click();
        await page.waitForFunction(
          (seq) =>
            document.querySelector(`tr[data-dlq-seq="${seq}"]`) === null ||
            document.querySelector('.banner-error[role="alert"]') !== null,
          entry.seq,
          WAIT,
        );
        if (await row.count() > 0) {
          const text = await page.locator('.banner-error[role="alert"]').innerText();
          assert.ok(text.trim().length > 0, "the error body is shown");
          console.warn(
            `tests/browser: DELETE /dlq/{seq} is not there yet (the page showed: ${text}); ` +
              "the delete half of this step was SKIPPED",
          );
          return;
        }
        await page.getByText(`Dead letter #${entry.seq} was deleted.`).waitFor(WAIT);
        const after = await api<{ seq: number }[]>(stack, "/dlq");
        assert.equal(after.some((e) => e.seq === entry.seq), false);
      });

      await step("the runs table fits a 390 px wide screen", async () => {
        for (let i = 0; i < 3; i++) await submit(stack, { flow_name: "hello" });
        await page.setViewportSize({ width: 390, height: 844 });
        try {
          await page.goto(`${stack.url}/#/runs`);
          await page.locator("tr[data-run-id]").nth(3).waitFor(WAIT);
          await page.locator(".live-live").waitFor(WAIT);
          const m = await page.evaluate(() => {
            const wrap = document.querySelector(".table-wrap")!;
            return {
              wrapScroll: wrap.scrollWidth,
              wrapClient: wrap.clientWidth,
              doc: document.documentElement.scrollWidth,
              navCut: [...document.querySelectorAll(".top nav a")].some((a) =>
                a.getBoundingClientRect().right > innerWidth
              ),
              ids: [...document.querySelectorAll("tr[data-run-id] td a.mono")].map((a) =>
                a.textContent ?? ""
              ),
            };
          });
          assert.ok(m.wrapScroll <= m.wrapClient, `the table is not cut off: ${JSON.stringify(m)}`);
          assert.ok(m.doc <= 390, `the page does not scroll sideways: ${JSON.stringify(m)}`);
          assert.equal(m.navCut, false, "every page link is on screen");
          assert.ok(m.ids.length >= 4 && m.ids.every((id) => id.length === 8), m.ids.join(" "));
          await shot(page, shots, "runs_mobile");
          // The run page of one of them does not scroll sideways either (the graph scrolls in its
          // own frame when it must).
          await page.locator("tr[data-run-id] td a.mono").first().click();
          await page.locator(".page-head .chip[data-status]").waitFor(WAIT);
          await page.locator(".dag-node").first().waitFor(WAIT);
          const fit = await page.evaluate(() => ({
            doc: document.documentElement.scrollWidth,
            tabs: [...document.querySelectorAll('[role="tab"]')].map((tab) => {
              const r = tab.getBoundingClientRect();
              return tab.clientWidth >= tab.scrollWidth && r.right <= innerWidth;
            }),
          }));
          assert.ok(fit.doc <= 390, `the run page fits: ${fit.doc} px wide`);
          assert.deepEqual(fit.tabs, [true, true], "both tabs are whole and on screen");
          await shot(page, shots, "run_mobile");
        } finally {
          await page.setViewportSize({ width: 1280, height: 800 });
        }
      });
    }),
});
