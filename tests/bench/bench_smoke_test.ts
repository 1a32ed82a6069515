/**
 * Keeps the benchmark harness from rotting: runs `bench/main.ts --smoke` as a real process (its
 * own nats-server, gateway, worker and — when `redis-server` is installed — the BullMQ peer) and
 * checks the JSON it writes.
 *
 * @module
 */

import assert from "node:assert/strict";

const _MAIN = new URL("../../bench/main.ts", import.meta.url).pathname;

function _positive(value: unknown, path: string): void {
  assert.ok(
    typeof value === "number" && Number.isFinite(value) && value > 0,
    `${path} should be a positive number, got ${JSON.stringify(value)}`,
  );
}

function _at(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const key of path.split(".")) {
    assert.ok(v !== null && typeof v === "object", `${path}: missing at "${key}"`);
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

Deno.test("bench/main.ts --smoke exits 0 and writes every figure", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pyoco-bench-smoke-" });
  try {
    const out = `${dir}/results.json`;
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", _MAIN, "--smoke", "--out", out],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    const stderr = new TextDecoder().decode(result.stderr);
    assert.equal(result.code, 0, `bench exited ${result.code}:\n${stderr}\n${stdout}`);
    assert.match(stdout, /\| system \| W×C \| runs\/s \|/);
    assert.match(stdout, /#### Goals/);

    const report = JSON.parse(await Deno.readTextFile(out));
    assert.equal(report.params.smoke, true);
    assert.equal(report.params.n, 50);
    _positive(report.machine.nproc, "machine.nproc");
    assert.equal(typeof report.machine.deno, "string");
    for (
      const path of [
        "e2e.best.runs_per_sec",
        "e2e.best.latency_ms.p50",
        "e2e.best.latency_ms.p99",
        "e2e.half_rate.latency_ms.p99",
        "limit.best.runs_per_sec",
        "limit.best.latency_ms.p99",
        "ratios.e2e_vs_limit",
        "floor.best.runs_per_sec",
        "floor.best.latency_ms.p99",
        "ratios.e2e_vs_floor",
        "nats_msgs_per_run.e2e.in",
        "nats_msgs_per_run.e2e.out",
        "nats_msgs_per_run.floor.in",
        "nats_msgs_per_run.floor.out",
        "e2e.best.cpu_ms_per_run.gateway",
        "floor.best.cpu_ms_per_run.workers",
        "batch.runs_per_sec",
        "memory.gateway_peak_rss_mb",
        "memory.worker_peak_rss_mb",
        "auth.off_rps",
        "auth.on_rps",
      ]
    ) _positive(_at(report, path), path);
    assert.equal(report.e2e.best.runs, 50);
    assert.equal(report.e2e.best.failed, 0);
    assert.equal(report.e2e.best.latency_ms.count, 50);
    assert.equal(report.floor.best.failed, 0);
    assert.equal(report.batch.runs, 50);
    assert.equal(report.batch.failed, 0);
    assert.equal(report.reads.sizes.length, 2);
    assert.deepEqual(report.reads.sizes.map((s: { runs: number }) => s.runs), [50, 500]);
    for (const [i, size] of report.reads.sizes.entries()) {
      for (const key of ["list", "list_filtered", "get", "metrics"]) {
        _positive(size[key].p50, `reads.sizes[${i}].${key}.p50`);
        _positive(size[key].p99, `reads.sizes[${i}].${key}.p99`);
      }
      _positive(size.gateway_rss_mb, `reads.sizes[${i}].gateway_rss_mb`);
    }
    if (report.peer.skipped === null) {
      _positive(report.peer.best.runs_per_sec, "peer.best.runs_per_sec");
      _positive(report.ratios.e2e_vs_peer, "ratios.e2e_vs_peer");
      _positive(report.peer_aof.best.runs_per_sec, "peer_aof.best.runs_per_sec");
      _positive(report.ratios.e2e_vs_peer_aof, "ratios.e2e_vs_peer_aof");
      _positive(report.peer_bulk.best.runs_per_sec, "peer_bulk.best.runs_per_sec");
      _positive(report.ratios.batch_vs_peer_bulk, "ratios.batch_vs_peer_bulk");
    } else {
      assert.match(report.peer.skipped, /redis-server|BullMQ/);
    }
    assert.ok(Array.isArray(report.goals) && report.goals.length >= 7);
    for (const g of report.goals) assert.equal(typeof g.goal, "string");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
