/**
 * Runs the shell commands of `docs/quickstart.md` against a real stack (nats-server, gateway and
 * worker processes).
 *
 * Convention: a fenced ```sh block whose first line is `# quickstart-test` is run, as one
 * `bash -euo pipefail` script from the repository root, with `PYOCO_SERVER` set to the test
 * gateway's URL; it must exit 0. `curl` fails on an HTTP error status (`--fail-with-body` is
 * added by a shell function), so a 4xx/5xx answer fails the block. Other blocks (long-running
 * ones such as `deno task dev`, and sample output) are not run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";
import { REPO_ROOT } from "./_run.ts";

const _MARKER = "# quickstart-test";

/**
 * The marked ```sh blocks of a Markdown text.
 *
 * @param markdown The document.
 * @returns Each block's body (marker line included) and its 1-based starting line.
 */
export function markedShellBlocks(markdown: string): { line: number; script: string }[] {
  const blocks: { line: number; script: string }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const body = lines.slice(start, end);
    if (body[0]?.trim() === _MARKER) blocks.push({ line: start + 1, script: body.join("\n") });
    i = end;
  }
  return blocks;
}

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
  assert.deepEqual(markedShellBlocks(md), [{ line: 5, script: "# quickstart-test\necho one" }]);
});

Deno.test({
  name: "docs/quickstart.md commands run against a real stack",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const markdown = await Deno.readTextFile(new URL("docs/quickstart.md", REPO_ROOT));
    const blocks = markedShellBlocks(markdown);
    assert.ok(blocks.length >= 5, `expected at least 5 marked blocks, found ${blocks.length}`);

    await using nats = await startNatsServer();
    await using gateway = await startGatewayProcess({ natsUrl: nats.url });
    await using worker = await startWorkerProcess({
      natsUrl: nats.url,
      flows: ["examples/flows.ts", "examples/tasks.ts"],
      workerId: "quickstart-worker",
    });

    for (const block of blocks) {
      await t.step(`docs/quickstart.md:${block.line}`, async () => {
        const script = [
          "set -euo pipefail",
          'curl() { command curl --fail-with-body "$@"; }',
          block.script,
        ].join("\n");
        const out = await new Deno.Command("bash", {
          args: ["-c", script],
          cwd: REPO_ROOT,
          env: { PYOCO_SERVER: gateway.url, NO_COLOR: "1" },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const dec = new TextDecoder();
        const text = `${dec.decode(out.stdout)}${dec.decode(out.stderr)}`;
        assert.equal(
          out.code,
          0,
          `block at docs/quickstart.md:${block.line} exited ${out.code}:\n${block.script}\n--- output\n${text}\n--- worker\n${worker.logs()}`,
        );
      });
    }
  },
});
