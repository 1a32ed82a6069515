import assert from "node:assert/strict";
import { runPyoco } from "../_helpers/cli_process.ts";
import { postJson, snapshot } from "../gateway/_fixture.ts";
import { poll } from "../_helpers/poll.ts";
import { flaky, manageFixture } from "./_setup.ts";

function pyoco(args: string[], server: string) {
  return runPyoco(args, { env: { PYOCO_SERVER: server } });
}

Deno.test("pyoco get/retry/delete take the 8-character prefix; an ambiguous one exits 1 listing the matches", async () => {
  await using gw = await manageFixture();
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    gw.handler,
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const { run_id } = await (await gw.request("/runs", postJson({ flow_name: "etl" }))).json();
  await gw.runOne(run_id);
  const short = run_id.slice(0, 8);

  const got = await pyoco(["get", short], url);
  assert.equal(got.code, 0, got.stderr);
  assert.match(got.stdout, new RegExp(`run_id\\s+${run_id}`));
  assert.match(got.stdout, /FAILED/);

  flaky.broken = false;
  const retried = await pyoco(["retry", short, "--from-failed", "--json"], url);
  assert.equal(retried.code, 0, retried.stderr);
  const answer = JSON.parse(retried.stdout);
  assert.equal(answer.retry_of, run_id);
  assert.deepEqual(answer.reused_tasks, ["extract"]);
  const done = await gw.runOne(answer.run_id);
  assert.equal(done.status, "COMPLETED");
  assert.equal(done.task_records?.extract?.reused, true);

  const deleted = await pyoco(["delete", short], url);
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.equal(deleted.stdout, `Deleted run ${run_id} (FAILED)\n`);
  assert.equal((await gw.request(`/runs/${run_id}`)).status, 404);

  for (const id of ["cafe0000-aaaa", "cafe0000-bbbb"]) {
    await gw.reader.runs.create(id, JSON.stringify(snapshot(id, { status: "COMPLETED" })));
  }
  await poll(() => gw.backend.index.get("cafe0000-bbbb") !== undefined, {
    message: "the index to see the seeded runs",
  });
  const amb = await pyoco(["get", "cafe0000"], url);
  assert.equal(amb.code, 1);
  assert.match(amb.stderr, /matches 2 runs: cafe0000-aaaa, cafe0000-bbbb/);
  assert.doesNotMatch(amb.stderr, /^\s+at .+:\d+:\d+/m);
});
