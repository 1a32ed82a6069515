/**
 * Subject and consumer names (SPEC §13, `src/config/subjects.ts`): shared mode keeps
 * pyoco-server 0.4's names byte for byte; namespaced mode inserts the tenant; consumer names
 * never collide, whatever `_` the tenants and tags hold.
 */

import assert from "node:assert/strict";
import {
  cancelFilter,
  cancelSubject,
  consumerName,
  dlqFilter,
  dlqSubject,
  eventsFilter,
  eventsSubject,
  loadConfig,
  parseDlqSubject,
  parseRunKey,
  parseWorkSubject,
  runKey,
  runKeyFilter,
  workFilter,
  workSubject,
} from "../../src/config.ts";
import { PRIORITIES } from "../../src/contract/tenancy.ts";

const shared = loadConfig({ env: {}, envFile: false });
const ns = loadConfig({ env: { PYOCO_TENANT_ISOLATION: "namespaced" }, envFile: false });

Deno.test("shared mode: pyoco-server 0.4's names, whatever the tenant", () => {
  const r = { tag: "gpu", tenant: "acme" };
  assert.equal(workSubject(shared, r), "pyoco.work.gpu");
  assert.equal(consumerName(shared, r), "pyoco_workers_gpu");
  assert.equal(dlqSubject(shared, r), "pyoco.dlq.gpu");
  assert.equal(eventsSubject(shared, "r1", { tenant: "acme" }), "pyoco.events.r1");
  assert.equal(cancelSubject(shared, "r1", { tenant: "acme" }), "pyoco.cancel.r1");
  assert.equal(workFilter(shared), "pyoco.work.>");
  assert.equal(dlqFilter(shared), "pyoco.dlq.>");
  assert.equal(eventsFilter(shared), "pyoco.events.>");
  assert.equal(cancelFilter(shared), "pyoco.cancel.*");
  assert.deepEqual(parseWorkSubject(shared, "pyoco.work.gpu"), {
    tenant: null,
    tag: "gpu",
    priority: "normal",
  });
  assert.equal(parseWorkSubject(shared, "pyoco.work.gpu.urgent"), null);
});

Deno.test("namespaced mode: SPEC §13's names", () => {
  const r = { tag: "gpu", tenant: "acme" };
  assert.equal(workSubject(ns, r), "pyoco.acme.work.gpu");
  assert.equal(workSubject(ns, { ...r, priority: "low" }), "pyoco.acme.work.gpu.low");
  assert.equal(consumerName(ns, r), "pyoco_workers_acme_gpu");
  assert.equal(consumerName(ns, { ...r, priority: "high" }), "pyoco_workers-high_acme_gpu");
  assert.equal(dlqSubject(ns, r), "pyoco.acme.dlq.gpu");
  assert.equal(eventsSubject(ns, "r1", { tenant: "acme" }), "pyoco.acme.events.r1");
  assert.equal(eventsSubject(ns, "r1"), "pyoco._.events.r1", "no key → tenant _");
  assert.equal(cancelSubject(ns, "r1", { tenant: null }), "pyoco._.cancel.r1");
  assert.equal(workFilter(ns), "pyoco.*.work.>");
  assert.equal(workFilter(ns, "acme"), "pyoco.acme.work.>");
  assert.equal(cancelFilter(ns, "acme"), "pyoco.acme.cancel.*");
  assert.deepEqual(parseWorkSubject(ns, "pyoco.acme.work.gpu.high"), {
    tenant: "acme",
    tag: "gpu",
    priority: "high",
  });
  assert.deepEqual(parseDlqSubject(ns, "pyoco._.dlq.default"), {
    tenant: "_",
    tag: "default",
    priority: "normal",
  });
  assert.equal(parseWorkSubject(ns, "pyoco.work.gpu"), null, "a shared subject is not namespaced");
});

Deno.test("consumer names never collide across tenants, tags and priorities", () => {
  const ids = ["_", "a", "a_b", "b_c", "a-b", "a_", "_a", "a__b", "x-y_z", "b"];
  const seen = new Map<string, string>();
  for (const tenant of ids) {
    for (const tag of ids) {
      for (const priority of PRIORITIES) {
        const name = consumerName(ns, { tenant, tag, priority });
        assert.match(name, /^[A-Za-z0-9_-]+$/);
        const who = `${tenant}/${tag}/${priority}`;
        assert.equal(seen.get(name), undefined, `${name}: ${seen.get(name)} and ${who}`);
        seen.set(name, who);
      }
    }
  }
});

Deno.test("runKey(): the run id in shared mode, <tenant>.<run_id> in namespaced mode", () => {
  // Shared: pyoco-server 0.4's keys, whatever the tenant.
  assert.equal(runKey(shared, "r-1", { tenant: "acme" }), "r-1");
  assert.equal(runKey(shared, "r-1"), "r-1");
  assert.deepEqual(parseRunKey(shared, "r-1"), { tenant: null, runId: "r-1" });
  assert.equal(runKeyFilter(shared, "r-1"), "r-1");
  // Namespaced: the tenant first, `_` without one.
  assert.equal(runKey(ns, "r-1", { tenant: "acme" }), "acme.r-1");
  assert.equal(runKey(ns, "r-1", { tenant: null }), "_.r-1");
  assert.equal(runKey(ns, "r-1"), "_.r-1");
  assert.equal(runKey(ns, "r-1", { tenant: "a_b" }), "a_b.r-1");
  assert.equal(runKeyFilter(ns, "r-1"), "*.r-1");
  for (const tenant of ["acme", "_", "a_b", "x-y"]) {
    assert.deepEqual(parseRunKey(ns, runKey(ns, "r_1-2", { tenant })), { tenant, runId: "r_1-2" });
  }
  // Not run keys of namespaced mode: a bare id (left from shared mode), bad tokens.
  for (const key of ["r-1", "acme.", ".r-1", "acme.r.1", "ac me.r-1", `acme.${"r".repeat(129)}`]) {
    assert.equal(parseRunKey(ns, key), null, key);
  }
});
