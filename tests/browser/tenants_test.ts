/**
 * The overview's Tenants table in a real browser: a namespaced stack with the runs of two
 * tenants, a worker that serves only one of them (two slots, minute-long runs), and the table's
 * rows (tenant, priority, pending, running) checked against what was submitted, at 1280 px and
 * at 390 px wide.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { api, shot, SKIP, WAIT, withBrowser } from "./_browser.ts";
import type { Stack } from "./_stack.ts";
import { poll } from "../_helpers/poll.ts";

/** The table as rows of `tenant priority pending running`, in page order. */
function _rows(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll("[data-tenants] tbody tr")].map((tr) =>
      [
        tr.getAttribute("data-tenant"),
        tr.getAttribute("data-priority"),
        tr.querySelector("[data-pending]")?.textContent,
        tr.querySelector("[data-running]")?.textContent,
      ].join(" ")
    )
  );
}

/** Wait until the table shows exactly `expected` (it is re-read after every run change). */
async function _waitRows(page: Page, expected: string[]): Promise<void> {
  let last: string[] = [];
  await poll(async () => {
    last = await _rows(page);
    return JSON.stringify(last) === JSON.stringify(expected);
  }, {
    timeoutMs: WAIT.timeout,
    intervalMs: 100,
    message: () => `the Tenants table ${JSON.stringify(expected)}, got ${JSON.stringify(last)}`,
  });
}

async function _submitAs(stack: Stack, tenant: string, body: Record<string, unknown>) {
  await api(stack, "/runs", {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "X-API-Key": stack.keys[tenant]! },
  });
}

Deno.test({
  name: "dashboard: the overview's Tenants table shows pending and running per tenant and priority",
  ignore: SKIP,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withBrowser(t, async ({ stack, page, shots, step }) => {
      await step("two tenants' runs, one tenant served: both tenants' rows add up", async () => {
        await page.goto(`${stack.url}/#/`);
        await page.locator('[data-count-status="PENDING"] .card-value').waitFor(WAIT);
        // acme's worker has two slots: two normal runs take them. Nobody serves globex.
        await _submitAs(stack, "acme", { flow_name: "long_nap" });
        await _submitAs(stack, "acme", { flow_name: "long_nap" });
        await _submitAs(stack, "globex", { flow_name: "long_nap", priority: "high" });
        await _submitAs(stack, "globex", { flow_name: "long_nap" });
        await _submitAs(stack, "globex", { flow_name: "long_nap" });
        await _waitRows(page, [
          "acme high 0 0",
          "acme normal 0 2",
          "acme low 0 0",
          "globex high 1 0",
          "globex normal 2 0",
        ]);
        // With both slots busy, acme's next runs wait whatever their priority.
        await _submitAs(stack, "acme", { flow_name: "long_nap", priority: "high" });
        await _submitAs(stack, "acme", { flow_name: "long_nap", priority: "low" });
        await _submitAs(stack, "acme", { flow_name: "long_nap", priority: "low" });
        await _waitRows(page, [
          "acme high 1 0",
          "acme normal 0 2",
          "acme low 2 0",
          "globex high 1 0",
          "globex normal 2 0",
        ]);
        const cards = await page.evaluate(() => ({
          pending: document.querySelector('[data-count-status="PENDING"] .card-value')
            ?.textContent,
          running: document.querySelector('[data-count-status="RUNNING"] .card-value')
            ?.textContent,
        }));
        assert.deepEqual(cards, { pending: "6", running: "2" }, "the cards agree with the table");
        await shot(page, shots, "overview_tenants");
      });

      await step("the Tenants table fits a 390 px wide screen", async () => {
        await page.setViewportSize({ width: 390, height: 844 });
        try {
          await page.locator("[data-tenants]").scrollIntoViewIfNeeded();
          const fit = await page.evaluate(() => {
            const table = document.querySelector("[data-tenants]")!;
            const panel = table.closest(".panel")!;
            return {
              doc: document.documentElement.scrollWidth,
              table: table.getBoundingClientRect().right,
              panel: panel.getBoundingClientRect().right,
              heads: [...table.querySelectorAll("th")].map((th) => th.textContent),
              // What sticks out, for the failure message.
              wide: [...document.querySelectorAll("body *")].filter((e) =>
                e.getBoundingClientRect().right > innerWidth
              ).map((e) =>
                `${e.tagName}.${e.className} ${
                  e.closest(".panel")?.querySelector("h2")?.textContent
                } ${e.getBoundingClientRect().right}`
              ).slice(0, 3),
            };
          });
          assert.ok(fit.doc <= 390, `the page does not scroll sideways: ${JSON.stringify(fit)}`);
          assert.ok(fit.table <= fit.panel, `the table is not cut off: ${JSON.stringify(fit)}`);
          assert.deepEqual(fit.heads, ["Tenant", "Priority", "Pending", "Running"]);
          await shot(page, shots, "overview_tenants_mobile");
        } finally {
          await page.setViewportSize({ width: 1280, height: 800 });
        }
      });
    }, {
      stack: {
        env: {
          PYOCO_TENANT_ISOLATION: "namespaced",
          // The runs still go at the end: the worker stops at once.
          PYOCO_WORKER_DRAIN_TIMEOUT_SEC: "0",
        },
        tenants: ["globex"],
        workerTenants: ["acme"],
      },
    }),
});
