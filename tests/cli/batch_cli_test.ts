import assert from "node:assert/strict";
import { type CliRun, runPyoco } from "../_helpers/cli_process.ts";
import { submitBatchFile } from "../../src/cli/batch.ts";
import type { CliIo } from "../../src/cli/_common.ts";
import { PyocoClient } from "../../src/client/mod.ts";
import { startStack } from "../client/_stack.ts";

/** The permissions of the `pyoco` task in deno.json. */

function pyoco(
  args: string[],
  options: { env: Record<string, string>; stdin?: string },
): Promise<CliRun> {
  return runPyoco(args, options);
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+/m, `stack trace in:\n${text}`);
}

function captureIo(errIsTty: boolean): { io: CliIo; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    io: { out: (t) => out += t, err: (t) => err += t, errIsTty, env: () => undefined },
    out: () => out,
    err: () => err,
  };
}

Deno.test("pyoco submit --batch against a real gateway and worker", async (t) => {
  await using stack = await startStack();
  const env = { PYOCO_SERVER: stack.url };
  const client = new PyocoClient({ baseUrl: stack.url });
  const dir = await Deno.makeTempDir();
  try {
    await t.step("names every rejected line, prints accepted ids in order, exits 1", async () => {
      const file = `${dir}/runs.jsonl`;
      await Deno.writeTextFile(
        file,
        [
          '{"flow_name": "hello", "params": {"x": 1}}',
          '{"flow_name": "hello", "params": {"x": 2}, "tag": "default"}',
          "",
          "{not json",
          '{"flow_name": "helo"}',
          '{"flow_name": "hello", "params": {"x": 3}, "colour": "red"}',
          '{"flow_name": "hello", "params": {"x": 4}}',
        ].join("\n") + "\n",
      );
      const r = await pyoco(["submit", "--batch", file], { env });
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      assertNoStack(r.stderr);
      const ids = r.stdout.trim().split("\n");
      assert.equal(ids.length, 3, r.stdout);
      for (const id of ids) assert.match(id, /^[0-9a-f-]{36}$/);
      // Not a terminal: plain progress lines, no cursor movement.
      assert.match(r.stderr, /^Submitted 6\/6: 3 accepted, 3 rejected$/m);
      assert.ok(!r.stderr.includes("\x1b["), r.stderr);
      assert.match(r.stderr, /^Accepted 3 run\(s\), rejected 3$/m);
      assert.match(r.stderr, /^ {2}line 4: Not JSON/m);
      // The gateway's own answer for the typo, with its suggestion (SPEC §12).
      assert.match(r.stderr, /^ {2}line 5: .*helo.*ERR-PYOCO-0006/m);
      assert.match(r.stderr, /^ {2}line 6: Unknown field "colour"/m);
      const params = await Promise.all(ids.map(async (id) => (await client.getRun(id)).params));
      assert.deepEqual(params, [{ x: 1 }, { x: 2 }, { x: 4 }]);
    });

    await t.step("reads stdin with -, waits with --wait and answers JSON", async () => {
      const lines = '{"flow_name":"hello","params":{"x":5},"idempotency_key":"b-1"}\n' +
        '{"flow_name":"hello","params":{"x":6},"idempotency_key":"b-2"}\n';
      const r = await pyoco(["submit", "--batch", "-", "--wait", "--json"], { env, stdin: lines });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const answer = JSON.parse(r.stdout);
      assert.equal(answer.accepted, 2);
      assert.equal(answer.rejected, 0);
      assert.deepEqual(answer.items.map((i: { line: number }) => i.line), [1, 2]);
      for (const item of answer.items) assert.equal(item.status, "COMPLETED");
      // The same keys again: the same runs, never a second one.
      const again = await pyoco(["submit", "--batch", "-", "--json"], { env, stdin: lines });
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(
        JSON.parse(again.stdout).items.map((i: { run_id: string }) => i.run_id),
        answer.items.map((i: { run_id: string }) => i.run_id),
      );
    });

    await t.step(
      "a text --wait shows final statuses; a run that never ends exits 124",
      async () => {
        const file = `${dir}/wait.jsonl`;
        await Deno.writeTextFile(
          file,
          '{"flow_name":"hello","params":{"x":7}}\n{"flow_name":"hello","tag":"nobody"}\n',
        );
        const r = await pyoco(["submit", "--batch", file, "--wait", "--timeout", "2"], { env });
        assert.equal(r.code, 124, `${r.stdout}\n${r.stderr}`);
        assertNoStack(r.stderr);
        const [done, waiting] = r.stdout.trim().split("\n");
        assert.match(done!, /^\S+ COMPLETED$/, r.stdout);
        assert.match(waiting!, /^\S+$/, r.stdout);
        assert.match(r.stderr, /^Finished 1\/2$/m);
        assert.match(r.stderr, /^1 run\(s\) did not finish within 2 s; they go on on the server/m);
      },
    );

    await t.step("on a terminal the progress is one line redrawn in place", async () => {
      const text = Array.from({ length: 7 }, (_, i) => `{"flow_name":"hello","params":{"x":${i}}}`)
        .join("\n");
      const path = `${dir}/tty.jsonl`;
      await Deno.writeTextFile(path, text);
      const cap = captureIo(true);
      const code = await submitBatchFile(client, cap.io, {
        path,
        wait: false,
        json: false,
        chunkSize: 3,
      });
      assert.equal(code, 0, cap.err());
      const progress = cap.err().split("\n")[0]!;
      // Three requests (3 + 3 + 1), each redrawing the same line.
      assert.equal(progress.split("\r\x1b[2K").length - 1, 3, JSON.stringify(progress));
      assert.ok(progress.endsWith("Submitted 7/7: 7 accepted, 0 rejected"), progress);
      assert.equal(cap.out().trim().split("\n").length, 7);
    });

    await t.step("usage errors: a FLOW or --param beside --batch, a missing file", async () => {
      const both = await pyoco(["submit", "hello", "--batch", "x.jsonl"], { env });
      assert.equal(both.code, 2);
      assert.match(both.stderr, /--batch takes the flows from the file/);
      const param = await pyoco(["submit", "--batch", "x.jsonl", "--param", "x=1"], { env });
      assert.equal(param.code, 2);
      assert.match(param.stderr, /--param cannot be used with --batch/);
      const missing = await pyoco(["submit", "--batch", `${dir}/none.jsonl`], { env });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /Cannot read .*none\.jsonl/);
      assertNoStack(missing.stderr);
    });
  } catch (err) {
    console.error(stack.logs());
    throw err;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
