/**
 * Runs the shell commands of `docs/quickstart.md` against a real stack (nats-server, gateway and
 * worker processes): the blocks marked `# quickstart-test` (see `_doc_blocks.ts` for the
 * convention), with `PYOCO_SERVER` set to the test gateway's URL.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";
import { markedShellBlocks, runMarkedBlocks } from "./_doc_blocks.ts";

Deno.test("markedShellBlocks() finds only marked sh blocks", () => {
  const md = [
    "```sh",
    "deno task dev",
    "```",
    "```sh",
    "# quickstart-test",
    "echo one",
    "```",
    "```json",
    "# quickstart-test",
    "```",
  ].join("\n");
  assert.deepEqual(markedShellBlocks(md, "# quickstart-test"), [
    { line: 5, script: "# quickstart-test\necho one" },
  ]);
  assert.deepEqual(markedShellBlocks(md, "# doc-test"), []);
});

Deno.test({
  name: "docs/quickstart.md commands run against a real stack",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using nats = await startNatsServer();
    await using gateway = await startGatewayProcess({ natsUrl: nats.url });
    await using worker = await startWorkerProcess({
      natsUrl: nats.url,
      flows: ["examples/flows.ts", "examples/tasks.ts"],
      workerId: "quickstart-worker",
    });
    await runMarkedBlocks(t, {
      page: "docs/quickstart.md",
      marker: "# quickstart-test",
      minBlocks: 5,
      env: { PYOCO_SERVER: gateway.url },
      logs: () => worker.logs(),
    });
  },
});
