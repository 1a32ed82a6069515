/**
 * The walk-throughs a new user follows, run as written against real processes: the blocks marked
 * `# doc-test` (see `_doc_blocks.ts`) of `README.md` (the stack of `deno task dev`: one worker with
 * the examples on `default`), `docs/tutorial_multi_worker.md` (workers `cpu-1` and `gpu-1`) and
 * `docs/own_project.md` (a project in a temp folder outside the repository, served by a worker
 * whose `--allow-read` is widened to it, as the page says).
 *
 * @module
 */

import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess, type WorkerProcess } from "../_helpers/worker_process.ts";
import { poll } from "../_helpers/poll.ts";
import { WORKER_PERMISSIONS } from "../../src/host/permissions.ts";
import { REPO_ROOT } from "./_run.ts";
import { runMarkedBlocks } from "./_doc_blocks.ts";

const _EXAMPLES = ["examples/flows.ts", "examples/tasks.ts"];

Deno.test({
  name: "README.md walk-through runs against a real stack",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using nats = await startNatsServer();
    await using gateway = await startGatewayProcess({ natsUrl: nats.url });
    await using worker = await startWorkerProcess({
      natsUrl: nats.url,
      flows: _EXAMPLES,
      workerId: "dev-worker",
    });
    await runMarkedBlocks(t, {
      page: "README.md",
      minBlocks: 3,
      env: { PYOCO_SERVER: gateway.url, PYOCO_NATS_URL: nats.url },
      logs: () => worker.logs(),
    });
  },
});

Deno.test({
  name: "docs/tutorial_multi_worker.md runs against a gateway and two workers",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using nats = await startNatsServer();
    await using gateway = await startGatewayProcess({ natsUrl: nats.url });
    await using cpu = await startWorkerProcess({
      natsUrl: nats.url,
      flows: ["examples/flows.ts"],
      workerId: "cpu-1",
      tags: ["cpu"],
      concurrency: 4,
    });
    await using gpu = await startWorkerProcess({
      natsUrl: nats.url,
      flows: ["examples/flows.ts"],
      workerId: "gpu-1",
      tags: ["gpu", "cpu"],
    });
    const dir = await Deno.makeTempDir({ prefix: "pyoco-tutorial-test-" });
    try {
      await runMarkedBlocks(t, {
        page: "docs/tutorial_multi_worker.md",
        minBlocks: 8,
        env: { PYOCO_SERVER: gateway.url, PYOCO_NATS_URL: nats.url },
        replace: { "/tmp/pyoco-boom.yaml": `${dir}/boom.yaml` },
        // The failed run's dead letter is published just after its terminal snapshot, which
        // `--wait` already saw: the replay block needs the entry to exist.
        beforeBlock: async (block) => {
          if (!block.script.includes("dlq replay")) return;
          await poll(async () => {
            const res = await fetch(`${gateway.url}/dlq`);
            return res.ok && ((await res.json()) as unknown[]).length > 0;
          }, { message: "a dead letter in GET /dlq" });
        },
        logs: () => `${cpu.logs()}\n--- gpu-1\n${gpu.logs()}`,
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "docs/own_project.md: a project outside the repository, served by a worker",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using nats = await startNatsServer();
    await using gateway = await startGatewayProcess({ natsUrl: nats.url });
    const dir = await Deno.makeTempDir({ prefix: "my-pyoco-project-" });
    let worker: WorkerProcess | undefined;
    try {
      await runMarkedBlocks(t, {
        page: "docs/own_project.md",
        minBlocks: 3,
        env: { PYOCO_SERVER: gateway.url, PYOCO_REPO: REPO_ROOT.pathname.replace(/\/$/, "") },
        replace: { "/tmp/my-pyoco-project": dir },
        // The page's worker command (a long-running one), once the project exists.
        beforeBlock: async (block) => {
          if (worker || !block.script.includes("submit.ts")) return;
          worker = await startWorkerProcess({
            natsUrl: nats.url,
            flows: [`${dir}/flows.ts`],
            tags: ["mine"],
            permissions: WORKER_PERMISSIONS.map((f) =>
              f === "--allow-read=." ? `--allow-read=.,${dir}` : f
            ),
          });
        },
        logs: () => worker?.logs() ?? "",
      });
    } finally {
      await worker?.[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
