/**
 * Memory under abuse (issue 12 #6), reduced from `bench/abuse.ts`: a real gateway process (auth
 * on, real nats-server) gets 4 rounds of bad input — deep JSON, bodies just under and over the
 * 1 MiB cap, invalid JSON and multipart, YAML bombs, new methods and paths every round, bad API
 * keys — 32 at a time.
 *
 * What is asserted:
 * - every answer is a 4xx (or a reset of an oversized upload), never a 5xx;
 * - nothing is kept per request: the `pyoco_http_requests_total` series stop growing after the
 *   first rounds although every round sends methods and paths never seen before (before the
 *   fix, each `FOO<n> /runs` added a series forever);
 * - resident memory after round 4 stays within 1.5× of after round 1 for the gateway started
 *   as it ships (`GATEWAY_V8_FLAGS`: `--max-semi-space-size=8`; 1.0–1.2 after 8 rounds × 10 in
 *   the bench, once 1.48). Without a V8 flag the ratio is 1.51–1.56 after 8 rounds: V8 lets garbage (1 MiB
 *   strings, body buffers) build up to a high-water that depends on its heuristics, not on
 *   anything kept (docs/performance.md, "Memory under abuse").
 */
import assert from "node:assert/strict";
import { measureAbuse } from "../../bench/abuse.ts";

Deno.test({
  name: "gateway under rounds of bad input: 4xx only, bounded metric series, flat RSS",
  ignore: Deno.build.os !== "linux", // RSS is read from /proc
  async fn() {
    const out = await measureAbuse({
      rounds: 4,
      repeat: 3,
      concurrency: 32,
    });
    const bad = Object.keys(out.statuses).filter((s) => s !== "reset" && !/^4\d\d$/.test(s));
    assert.deepEqual(bad, [], `statuses: ${JSON.stringify(out.statuses)}`);
    const series = out.metric_series_after_round;
    // Round 1's own GET /metrics adds its series once; from round 2 on nothing new may appear.
    assert.equal(series.at(-1), series[1], `metric series per round: ${series.join(", ")}`);
    assert.ok(
      out.ratio_8_vs_1 <= 1.5,
      `RSS after each round (MiB): ${
        out.rss_mib_after_round.join(", ")
      } (ratio ${out.ratio_8_vs_1})`,
    );
  },
});
