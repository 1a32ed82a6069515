/**
 * The pure rules of the flow catalog (SPEC §12): keys, the callables a flow.yaml needs,
 * suggestions, the merge of workers into one entry and the hand-back delay.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  catalogKey,
  closestNames,
  didYouMean,
  parseCatalogKey,
  yamlCallables,
} from "../../src/contract/catalog.ts";
import { flow, task } from "../../src/flow/mod.ts";
import { catalogEntriesOf, mergeEntry, routingNakDelayMs } from "../../src/worker/catalog.ts";

Deno.test("catalogKey() is <tag>.<flow_name>, null when it cannot be a KV key", () => {
  assert.deepEqual(catalogKey("gpu", "train.v2"), "gpu.train.v2");
  assert.deepEqual(parseCatalogKey("gpu.train.v2"), { tag: "gpu", flowName: "train.v2" });
  assert.deepEqual(catalogKey("gpu", "a..b"), null);
  assert.deepEqual(catalogKey("gpu", "a."), null);
  assert.deepEqual(catalogKey("g.pu", "a"), null);
  assert.deepEqual(parseCatalogKey("nodot"), null);
});

Deno.test("closestNames() suggests the nearest names by edit distance", () => {
  assert.deepEqual(closestNames("helo", ["hello", "fanout", "race", "help", "hel"]), [
    "hel",
    "hello",
    "help",
  ]);
  assert.deepEqual(closestNames("HELLO", ["hello"]), ["hello"]);
  assert.deepEqual(closestNames("helo", ["hello", "hellooo"]), ["hello"]);
  assert.deepEqual(closestNames("x".repeat(300), ["hello"]), []);
  assert.deepEqual(didYouMean(["hello"]), 'did you mean "hello"?');
  assert.deepEqual(didYouMean(["a", "b", "c"]), 'did you mean "a", "b" or "c"?');
  assert.deepEqual(didYouMean([]), "");
});

Deno.test("yamlCallables() lists callables and bare task names, never built-ins", () => {
  const needed = yamlCallables({
    flow: { graph: "fetch >> (loud & pause)\n# merge is not a node\nloud >> merge" },
    tasks: { fetch: { callable: "tasks:fetchData" }, pause: { callable: "pyoco:sleep" } },
  });
  assert.deepEqual(needed, ["tasks:fetchData", "loud", "merge"]);
});

Deno.test("catalogEntriesOf() makes one entry per tag and flow with the worker's callables", () => {
  const a = task("a", () => 1);
  const hello = flow("hello", { graph: "a", tasks: [a], defaults: { x: 1 } });
  const entries = catalogEntriesOf(
    { flows: new Map([["hello", hello]]), tasks: new Map([["mod:a", a], ["a", a]]) },
    { workerId: "w1", tags: ["default", "gpu"] },
  );
  assert.deepEqual([...entries.keys()], ["default.hello", "gpu.hello"]);
  const e = entries.get("gpu.hello")!;
  assert.deepEqual([e.flow_name, e.tag, e.graph, e.tasks, e.defaults], [
    "hello",
    "gpu",
    "a",
    ["a"],
    {
      x: 1,
    },
  ]);
  assert.deepEqual(e.callables, ["a", "mod:a"]);
  assert.deepEqual(e.workers, ["w1"]);
});

Deno.test("mergeEntry() adds the worker, keeps live ones, drops dead ones", () => {
  const current = {
    flow_name: "hello",
    tag: "default",
    graph: "a",
    tasks: ["a"],
    defaults: {},
    callables: ["x", "y"],
    workers: ["dead", "live"],
    worker_callables: { dead: ["x"], live: ["y"] },
    updated_at: 1,
  };
  const mine = { ...current, callables: ["z"], workers: ["me"], worker_callables: { me: ["z"] } };
  const merged = mergeEntry(current, mine, { workerId: "me", alive: new Set(["live"]) });
  assert.deepEqual(merged.workers, ["live", "me"]);
  assert.deepEqual(merged.worker_callables, { live: ["y"], me: ["z"] });
  assert.deepEqual(merged.callables, ["y", "z"]);
  const left = mergeEntry(merged, null, { workerId: "me", alive: new Set(["live"]) });
  assert.deepEqual(left.workers, ["live"]);
  assert.deepEqual(left.callables, ["y"]);
});

Deno.test("routingNakDelayMs() grows from 250 ms to 30 s", () => {
  assert.deepEqual([1, 2, 3, 8, 9, 50].map(routingNakDelayMs), [
    250,
    500,
    1000,
    30_000,
    30_000,
    30_000,
  ]);
});
