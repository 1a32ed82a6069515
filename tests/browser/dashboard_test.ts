/// <reference lib="dom" />
/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by `playwright-core`)
 * against a real stack with API-key auth on: nats-server, the gateway process and a worker
 * process. Saves a screenshot of every page to a temporary folder (`PYOCO_SCREENSHOTS_DIR` when
 * set), kept and named in the output only when the test fails: a test run never rewrites the
 * tracked `docs/images/`; `deno task screenshots` (`tests/browser/screenshots.ts`) does, on purpose.
 *
 * Skipped, with a message, when Chromium is not installed (`apt-get install -y chromium`;
 * `.ci/run` installs it). `PYOCO_CHROMIUM_BIN` points at another binary.
 *
 * @module
 */

import assert from "node:assert/strict";
import { poll } from "../_helpers/poll.ts";
import {
  allNodes as _allNodes,
  api as _api,
  runIdOf as _runIdOf,
  shot as _shot,
  SKIP,
  WAIT as _WAIT,
  withBrowser,
} from "./_browser.ts";

Deno.test({
  name: "dashboard: runs, run page, submit, cancel, workers and DLQ replay in Chromium with auth",
  ignore: SKIP,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    withBrowser(t, async ({ stack, page, shots, step }) => {
      await step(
        "asks for a key on 401, explains a 403, then works with a good key",
        async () => {
          await page.goto(`${stack.url}/#/runs`);
          await page.locator("dialog").getByText("This gateway requires an API key").waitFor(_WAIT);
          await page.fill("#api-key", "pyoco_0123456789abcdef01234567.secret");
          await page.click("text=Save key");
          await page.locator("dialog").getByText("The key was refused").waitFor(_WAIT);
          await page.fill("#api-key", stack.apiKey);
          await page.click("text=Save key");
          await page.getByRole("button", { name: "API key set" }).waitFor(_WAIT);
          await page.locator(".live-live").waitFor(_WAIT);
          const stored = await page.evaluate(() => sessionStorage.getItem("pyoco.apiKey"));
          assert.equal(stored, stack.apiKey);
        },
      );

      let etlId = "";
      await step(
        "a run submitted elsewhere appears and reaches COMPLETED without reload",
        async () => {
          await page.evaluate(
            () => ((globalThis as Record<string, unknown>).__sameDocument = true),
          );
          etlId = (await _api<{ run_id: string }>(stack, "/runs", {
            method: "POST",
            body: JSON.stringify({ flow_name: "etl" }),
          })).run_id;
          await page.locator(`tr[data-run-id="${etlId}"]`).waitFor(_WAIT);
          await page.locator(`tr[data-run-id="${etlId}"][data-status="COMPLETED"]`).waitFor(_WAIT);
          assert.equal(
            await page.evaluate(() => (globalThis as Record<string, unknown>).__sameDocument),
            true,
          );
        },
      );

      await step("the run page draws every task SUCCEEDED, with records and logs", async () => {
        await page.click(`tr[data-run-id="${etlId}"] a`);
        await page.waitForURL(`**/#/runs/${etlId}`, _WAIT);
        await _allNodes(page, 4, "SUCCEEDED");
        assert.equal(await page.locator(".dag-edge").count(), 4);
        await page.click('[data-task="clean"]');
        await page.locator('[data-task-record="clean"]').getByText("Attempts").waitFor(_WAIT);
        await page.focus('[data-task="enrich"]');
        await page.keyboard.press("Enter");
        await page.locator('[data-task-record="enrich"]').waitFor(_WAIT);
        await page.locator(".log").getByText("read 1,204 rows").waitFor(_WAIT);
        await page.getByText("curl -s -X POST").waitFor(_WAIT);
        await _shot(page, shots, "run");
      });

      await step("submit by flow name opens the run, which goes COMPLETED live", async () => {
        await page.goto(`${stack.url}/#/submit`);
        await page.fill("#s-flow", "hello");
        await page.fill("#s-params", '{\n  "x": 2\n}');
        await _shot(page, shots, "submit");
        await page.click("text=Submit run");
        await page.waitForURL(/#\/runs\/[\w-]+$/, _WAIT);
        await page.locator('.page-head .chip[data-status="COMPLETED"]').waitFor(_WAIT);
        await _allNodes(page, 2, "SUCCEEDED");
        const run = await _api<{ status: string; params: unknown }>(
          stack,
          `/runs/${_runIdOf(page)}`,
        );
        assert.equal(run.status, "COMPLETED");
        assert.deepEqual(run.params, { x: 2 });
      });

      await step("a flow.yaml upload runs and its graph comes from the file", async () => {
        await page.goto(`${stack.url}/#/submit`);
        await page.setInputFiles(
          "#y-file",
          new URL("../../examples/flow.yaml", import.meta.url).pathname,
        );
        await page.fill("#y-flow", "demo");
        await page.click("text=Upload and run");
        await page.waitForURL(/#\/runs\/[\w-]+$/, _WAIT);
        await page.locator('.page-head .chip[data-status="COMPLETED"]').waitFor(_WAIT);
        await _allNodes(page, 5, "SUCCEEDED");
        assert.equal(await page.locator(".dag-edge").count(), 6);
      });

      await step("Cancel on a running run ends it CANCELLED", async () => {
        await page.goto(`${stack.url}/#/submit`);
        await page.fill("#s-flow", "long_nap");
        await page.click("text=Submit run");
        await page.waitForURL(/#\/runs\/[\w-]+$/, _WAIT);
        const id = _runIdOf(page);
        await page.locator('[data-task="wait_a"][data-state="RUNNING"]').waitFor(_WAIT);
        await page.click("text=Cancel run");
        await page.locator('.page-head .chip[data-status="CANCELLED"]').waitFor(_WAIT);
        const run = await _api<{ status: string }>(stack, `/runs/${id}`);
        assert.equal(run.status, "CANCELLED");
      });

      await step("a dead letter is replayed as a new run", async () => {
        const { run_id } = await _api<{ run_id: string }>(stack, "/runs", {
          method: "POST",
          body: JSON.stringify({ flow_name: "no_such_flow" }),
        });
        const entry = await poll(async () => {
          const list = await _api<{ seq: number; run_id: string; reason: string }[]>(stack, "/dlq");
          return list.find((e) => e.run_id === run_id);
        }, { timeoutMs: _WAIT.timeout, intervalMs: 100, message: "the dead letter" });
        assert.equal(entry.reason, "flow_not_found");
        await page.goto(`${stack.url}/#/dlq`);
        const row = page.locator(`tr[data-dlq-seq="${entry.seq}"]`);
        await row.waitFor(_WAIT);
        await row.getByRole("button", { name: `Replay dead letter ${entry.seq}` }).click();
        const link = row.locator(".replayed a");
        await link.waitFor(_WAIT);
        const newId = (await link.getAttribute("href"))!.replace("#/runs/", "");
        assert.notEqual(newId, run_id);
        const replayed = await _api<{ replayed_from: number | null }>(stack, `/runs/${newId}`);
        assert.equal(replayed.replayed_from, entry.seq);
        await _shot(page, shots, "dead_letters");
      });

      await step("workers show state and can be hidden and shown again", async () => {
        await page.goto(`${stack.url}/#/workers`);
        const row = page.locator(`tr[data-worker-id="${stack.workerId}"]`);
        await row.waitFor(_WAIT);
        await _shot(page, shots, "workers");
        await row.getByRole("button", { name: `Hide worker ${stack.workerId}` }).click();
        await row.waitFor({ state: "detached", ..._WAIT });
        await page.getByLabel("Show hidden workers").check();
        await row.getByText("(hidden)").waitFor(_WAIT);
        await row.getByRole("button", { name: `Unhide worker ${stack.workerId}` }).click();
        await row.getByRole("button", { name: `Hide worker ${stack.workerId}` }).waitFor(_WAIT);
      });

      await step("runs and overview pages", async () => {
        await page.goto(`${stack.url}/#/runs`);
        await page.locator("tr[data-run-id]").nth(4).waitFor(_WAIT);
        await page.locator(".live-live").waitFor(_WAIT);
        await _shot(page, shots, "runs");
        await page.goto(`${stack.url}/#/`);
        await page.waitForFunction(
          () =>
            Number(
              document.querySelector('[data-count-status="COMPLETED"] .card-value')?.textContent,
            ) >= 2,
          undefined,
          _WAIT,
        );
        await page.locator(".bar-completed").first().waitFor(_WAIT);
        // Shared mode and one tenant (acme): no Tenants table (tests/browser/tenants_test.ts).
        assert.equal(await page.locator("[data-tenants]").count(), 0, "no Tenants table");
        await _shot(page, shots, "overview");
      });
    }, { withKey: false }),
});
