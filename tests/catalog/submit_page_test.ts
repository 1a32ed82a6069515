/// <reference lib="dom" />
/**
 * The dashboard's submit page picks flows from the catalog (SPEC §12), in a real headless
 * Chromium against a real stack of its own (nats-server, gateway and worker processes; the
 * catalog check on, as by default): the tag list, the flows of the tag, the flow's defaults prefilled, its graph drawn
 * before submitting, and a mistyped flow answered with the gateway's suggestion.
 *
 * Skipped, with a message, when Chromium is not installed (see `tests/browser/`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Browser, chromium } from "playwright-core";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";

const _CHROMIUM = Deno.env.get("PYOCO_CHROMIUM_BIN") ?? "/usr/bin/chromium";
const _WAIT = { timeout: 20_000 };

function _hasChromium(): boolean {
  try {
    return Deno.statSync(_CHROMIUM).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "submit page: flows from the catalog, defaults prefilled, graph drawn, typo suggested",
  ignore: !_hasChromium(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using srv = await startNatsServer();
    await using gw = await startGatewayProcess({ natsUrl: srv.url });
    await using _worker = await startWorkerProcess({
      natsUrl: srv.url,
      flows: ["./examples/flows.ts"],
      workerId: "page-worker",
    });
    let browser: Browser | null = null;
    try {
      browser = await chromium.launch({
        executablePath: _CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
      });
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } }))
        .newPage();
      await page.goto(`${gw.url}/#/submit`);
      // The worker's flows are offered for tag default.
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll("#s-flows option")].some((o) =>
            (o as HTMLOptionElement).value === "hello"
          ),
        undefined,
        _WAIT,
      );
      const tags = await page.$$eval(
        "#s-tags option",
        (os) => os.map((o) => o.getAttribute("value")),
      );
      assert.ok(tags.includes("default"));

      await page.fill("#s-flow", "hello");
      await page.locator('[data-catalog="known"]').getByText(/Offered by 1 live worker/).waitFor(
        _WAIT,
      );
      assert.ok(await page.locator('[data-catalog="known"] .dag-node').count() >= 2);
      const prefilled = JSON.parse(await page.inputValue("#s-params"));
      const flows = await (await fetch(`${gw.url}/flows/default/hello`)).json();
      assert.deepEqual(prefilled, flows.defaults);

      await page.fill("#s-flow", "helo");
      await page.locator('[data-catalog="unknown"]').waitFor(_WAIT);
      await page.click("text=Submit run");
      await page.getByText('did you mean "hello"?').first().waitFor(_WAIT);

      // Params focused first count as the user's: defaults that arrive afterwards (a flow named
      // later, a catalog loading late) never replace the text being typed (they once merged
      // with it mid-typing: `{"x": 1}{"x": 2}`).
      await page.goto(`${gw.url}/#/`);
      await page.goto(`${gw.url}/#/submit`);
      await page.focus("#s-params");
      await page.fill("#s-flow", "hello");
      await page.locator('[data-catalog="known"]').getByText(/Offered by 1 live worker/).waitFor(
        _WAIT,
      );
      assert.deepEqual(JSON.parse(await page.inputValue("#s-params")), {});
    } finally {
      await browser?.close();
    }
  },
});
