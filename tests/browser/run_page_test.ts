/// <reference lib="dom" />
/**
 * The run page in a real headless Chromium against a real stack (issue 14 item 8): a 4-column
 * graph fits at 1280×800 and a 10-column one scrolls visibly, a PENDING run shows its graph from
 * the flow catalog and why it waits, a run that failed before any task says why, the timeline
 * tab draws a bar per started task, "Retry from failed" opens the new run (or shows the
 * gateway's error), a cancellation is not shown in red, and a finished run can be deleted.
 *
 * Skipped, with a message, when Chromium is not installed (see `_browser.ts`).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { poll } from "../_helpers/poll.ts";
import {
  allNodes,
  api,
  apiRaw,
  runIdOf,
  runStatus,
  shot,
  SKIP,
  submit,
  WAIT,
  withBrowser,
} from "./_browser.ts";
import type { Stack } from "./_stack.ts";

async function _waitStatus(stack: Stack, id: string, status: string): Promise<void> {
  await poll(async () => (await api<{ status: string }>(stack, `/runs/${id}`)).status === status, {
    timeoutMs: WAIT.timeout,
    intervalMs: 50,
    message: `run ${id} to be ${status}`,
  });
}

async function _openRun(page: Page, stack: Stack, id: string): Promise<void> {
  await page.goto(`${stack.url}/#/runs/${id}`);
  await page.locator(`h1 [data-run-id="${id}"]`).waitFor(WAIT);
}

/** Boxes of the graph and the frame, in page pixels. */
function _geometry(page: Page) {
  return page.evaluate(() => {
    const wrap = document.querySelector(".dag-wrap") as HTMLElement;
    const box = wrap.getBoundingClientRect();
    return {
      scale: Number(wrap.dataset.scale),
      overflow: wrap.dataset.overflow,
      scrollWidth: wrap.scrollWidth,
      clientWidth: wrap.clientWidth,
      wrapLeft: box.left,
      wrapRight: box.right,
      nodes: [...document.querySelectorAll(".dag-node")].map((n) => {
        const r = n.getBoundingClientRect();
        return { name: n.getAttribute("data-task"), left: r.left, right: r.right };
      }),
    };
  });
}

Deno.test({
  name: "run page: fit or scroll, PENDING graph, early failure, timeline, retry, cancel, delete",
  ignore: SKIP,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withBrowser(t, async ({ stack, page, shots, step }) => {
      let pipelineId = "";
      await step("a 4-column graph fits the panel at 1280×800", async () => {
        pipelineId = await submit(stack, { flow_name: "pipeline" });
        await _openRun(page, stack, pipelineId);
        await runStatus(page, "FAILED");
        await page.locator('[data-task="transform"][data-state="FAILED"]').waitFor(WAIT);
        const g = await _geometry(page);
        assert.equal(g.overflow, "false");
        assert.ok(g.scrollWidth <= g.clientWidth, `no hidden part: ${JSON.stringify(g)}`);
        assert.equal(g.nodes.length, 4);
        for (const n of g.nodes) {
          assert.ok(
            n.left >= g.wrapLeft - 1 && n.right <= g.wrapRight + 1,
            `${n.name} is inside the panel: ${JSON.stringify(g)}`,
          );
        }
        // The failed task's error is an error (red); the run's too.
        await page.click('[data-task="transform"]');
        await page.locator('[data-task-error="error"]').getByText("price").waitFor(WAIT);
        assert.equal(await page.locator('[data-run-error="error"]').count(), 1);
        await shot(page, shots, "run_failed");
      });

      await step("the timeline tab draws a bar per started task, in start order", async () => {
        await page.getByRole("tab", { name: "Timeline" }).click();
        await page.locator('.gantt-bar[data-gantt-task="transform"]').waitFor(WAIT);
        const bars = await page.evaluate(() =>
          Object.fromEntries(
            [...document.querySelectorAll<HTMLElement>(".gantt-bar")].map((b) => {
              const r = b.getBoundingClientRect();
              return [b.dataset.ganttTask, {
                left: r.left,
                right: r.right,
                state: b.dataset.state,
              }];
            }),
          )
        );
        assert.deepEqual(Object.keys(bars).sort(), ["fetch", "parse", "transform"]);
        assert.ok(
          bars.parse!.left >= bars.fetch!.right - 1,
          `parse after fetch: ${JSON.stringify(bars)}`,
        );
        assert.ok(bars.transform!.left >= bars.parse!.right - 1, "transform after parse");
        assert.equal(bars.transform!.state, "FAILED");
        await page.locator(".gantt-row").filter({ hasText: "store" }).getByText("not started")
          .waitFor(WAIT);
        await shot(page, shots, "run_timeline");
        await page.getByRole("tab", { name: "Graph" }).click();
        await page.locator(".dag-node").first().waitFor(WAIT);
      });

      await step("Retry from failed opens the new run, or shows the gateway's error", async () => {
        const button = page.getByRole("button", { name: "Retry from failed" });
        await button.waitFor(WAIT);
        await button.click();
        await page.waitForFunction(
          (old) =>
            !location.hash.endsWith(old) ||
            document.querySelector('.banner-error[role="alert"]') !== null,
          pipelineId,
          WAIT,
        );
        if (page.url().endsWith(pipelineId)) {
          const text = await page.locator('.banner-error[role="alert"]').innerText();
          assert.ok(text.trim().length > 0, "the error body is shown");
          console.warn(
            `tests/browser: POST /runs/{id}/retry is not there yet (the page showed: ${text}); ` +
              "the new-run half of this step was SKIPPED",
          );
          return;
        }
        const newId = runIdOf(page);
        assert.notEqual(newId, pipelineId);
        await runStatus(page, "FAILED");
        const run = await api<
          { retry_of?: string; task_records: Record<string, { reused?: boolean }> }
        >(stack, `/runs/${newId}?include=records`);
        assert.equal(run.retry_of, pipelineId);
        assert.equal(run.task_records.fetch?.reused, true);
        await page.locator('[data-task="fetch"][data-state="SUCCEEDED"]').waitFor(WAIT);
        assert.match((await page.getAttribute('[data-task="fetch"]', "aria-label"))!, /reused/);
        await page.locator('[data-task="transform"][data-state="FAILED"]').waitFor(WAIT);
      });

      await step("a 10-column graph scrolls, with a visible hint", async () => {
        const id = await submit(stack, { flow_name: "wide" });
        await _openRun(page, stack, id);
        await runStatus(page, "COMPLETED");
        await allNodes(page, 10, "SUCCEEDED");
        const g = await _geometry(page);
        assert.equal(g.overflow, "true");
        assert.ok(g.scrollWidth > g.clientWidth, `it scrolls: ${JSON.stringify(g)}`);
        assert.ok(await page.locator(".dag-scroll-hint").isVisible());
        await page.evaluate(() => {
          const wrap = document.querySelector(".dag-wrap")!;
          wrap.scrollLeft = wrap.scrollWidth;
        });
        const after = await _geometry(page);
        const last = after.nodes.find((n) => n.name === "step_10")!;
        assert.ok(last.right <= after.wrapRight + 1, "the last column can be scrolled into view");
        await shot(page, shots, "run_wide");
      });

      await step("a PENDING run shows its graph from the flow catalog", async () => {
        // Two one-minute runs fill the worker's two slots: the next run stays PENDING.
        const naps = [
          await submit(stack, { flow_name: "long_nap" }),
          await submit(stack, { flow_name: "long_nap" }),
        ];
        for (const id of naps) await _waitStatus(stack, id, "RUNNING");
        const id = await submit(stack, { flow_name: "etl" });
        await _openRun(page, stack, id);
        await runStatus(page, "PENDING");
        await allNodes(page, 4, "PENDING");
        assert.equal(await page.locator(".dag-edge").count(), 4);
        await page.getByText("Graph from the flow catalog").waitFor(WAIT);
        await shot(page, shots, "run_pending");
        for (const run of [id, ...naps]) {
          await api(stack, `/runs/${run}/cancel`, { method: "POST", body: "{}" });
        }
        for (const run of [id, ...naps]) await _waitStatus(stack, run, "CANCELLED");
      });

      await step("a run on a tag nobody serves says why it waits", async () => {
        const id = await submit(stack, { flow_name: "hello", tag: "nobody" });
        await _openRun(page, stack, id);
        await runStatus(page, "PENDING");
        const reason = page.locator("[data-waiting-reason]");
        await reason.waitFor(WAIT);
        assert.match(await reason.innerText(), /nobody/);
        await api(stack, `/runs/${id}/cancel`, { method: "POST", body: "{}" });
        await runStatus(page, "CANCELLED");
      });

      await step("a run that failed before any task says why", async () => {
        const id = await submit(stack, { flow_name: "no_such_flow" });
        await _waitStatus(stack, id, "FAILED");
        const run = await api<{ error: string }>(stack, `/runs/${id}`);
        await _openRun(page, stack, id);
        const note = page.locator('[data-no-tasks="final"]');
        await note.waitFor(WAIT);
        const text = await note.innerText();
        assert.match(text, /failed before any task started/);
        assert.ok(text.includes(run.error), `${text} names ${run.error}`);
        assert.equal(await page.getByText("No task has been reported yet").count(), 0);
      });

      let cancelledId = "";
      await step("a deliberate cancellation is not shown in red", async () => {
        cancelledId = await submit(stack, { flow_name: "long_nap" });
        await _openRun(page, stack, cancelledId);
        await page.locator('[data-task="wait_a"][data-state="RUNNING"]').waitFor(WAIT);
        await page.click("text=Cancel run");
        await runStatus(page, "CANCELLED");
        await page.locator('[data-task="wait_a"][data-state="CANCELLED"]').waitFor(WAIT);
        assert.equal(await page.locator('[data-run-error="error"]').count(), 0);
        assert.equal(await page.locator(".banner-error").count(), 0, "no red banner");
        await page.click('[data-task="wait_a"]');
        await page.locator('[data-task-record="wait_a"]').waitFor(WAIT);
        assert.equal(await page.locator('[data-task-error="error"]').count(), 0);
        const red = await page.evaluate(() =>
          [...document.querySelectorAll(".dag-node rect")].some((r) =>
            getComputedStyle(r).stroke === "rgb(217, 45, 32)"
          )
        );
        assert.equal(red, false, "no box is drawn in the failure red");
      });

      await step("a finished run is deleted from its page", async () => {
        await page.getByRole("button", { name: "Delete", exact: true }).click();
        await page.getByRole("button", { name: "Yes, delete" }).click();
        await page.waitForURL(/#\/runs\?deleted=/, WAIT);
        await page.getByText(`Run ${cancelledId} was deleted.`).waitFor(WAIT);
        assert.equal((await apiRaw(stack, `/runs/${cancelledId}`)).status, 404);
        assert.equal(await page.locator(`tr[data-run-id="${cancelledId}"]`).count(), 0);
      });
    }),
});
