import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import {
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
  secondsToMs,
  secondsToNanos,
} from "../../src/config.ts";
import { ensureConsumer, ensureResources } from "../../src/nats/resources.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startWorkerProcess } from "../_helpers/worker_process.ts";

Deno.test("loadConfig() keeps every pyoco-server 0.4 default", () => {
  const c = loadConfig({ env: {}, envFile: false });
  assert.deepEqual(c.natsUrl, ["nats://127.0.0.1:4222"]);
  assert.equal(c.workSubjectPrefix, "pyoco.work");
  assert.equal(c.defaultTag, "default");
  assert.equal(c.runsKvBucket, "pyoco_runs");
  assert.equal(c.workersKvBucket, "pyoco_workers");
  assert.equal(c.workersKvTtlSec, 15);
  assert.equal(c.httpAuthMode, "none");
  assert.equal(c.httpApiKeyHeader, "X-API-Key");
  assert.equal(c.authKvBucket, "pyoco_auth");
  assert.equal(c.runHeartbeatIntervalSec, 1);
  assert.equal(c.workerHeartbeatIntervalSec, 5);
  assert.equal(c.consumerAckWaitSec, 30);
  assert.equal(c.consumerMaxDeliver, 20);
  assert.equal(c.consumerMaxAckPending, 200);
  assert.equal(c.ackProgressIntervalSec, 10);
  assert.equal(c.dlqStream, "PYOCO_DLQ");
  assert.equal(c.dlqSubjectPrefix, "pyoco.dlq");
  assert.equal(c.dlqPublishExecutionError, true);
  assert.equal(c.dlqMaxAgeSec, 604800);
  assert.equal(c.dlqMaxMsgs, 100000);
  assert.equal(c.dlqMaxBytes, 536870912);
  assert.equal(c.maxRunSnapshotBytes, 262144);
  assert.equal(c.workflowYamlMaxBytes, 262144);
  assert.equal(c.logLevel, "INFO");
  assert.equal(c.logFormat, "json");
  assert.equal(c.logUtc, true);
  assert.equal(c.logIncludeTraceback, true);
  assert.equal(c.workStream, "PYOCO_WORK");
  assert.equal(c.consumerPrefix, "pyoco_workers");
});

Deno.test("loadConfig() names the variable, the value and what is allowed", () => {
  assert.throws(
    () => loadConfig({ env: { PYOCO_HTTP_PORT: "eighty" }, envFile: false }),
    (err: unknown) =>
      err instanceof ConfigError && err.variable === "PYOCO_HTTP_PORT" &&
      err.message.includes('"eighty"') && err.message.includes("integer from 0 to 65535"),
  );
  assert.throws(
    () => loadConfig({ env: { PYOCO_HTTP_AUTH_MODE: "basic" }, envFile: false }),
    /PYOCO_HTTP_AUTH_MODE="basic": expected one of none, api_key/,
  );
  assert.throws(
    () => loadConfig({ env: { PYOCO_DEFAULT_TAG: "a.b" }, envFile: false }),
    /PYOCO_DEFAULT_TAG/,
  );
  assert.throws(
    () => loadConfig({ env: { PYOCO_WORK_SUBJECT_PREFIX: "pyoco.*" }, envFile: false }),
    /PYOCO_WORK_SUBJECT_PREFIX/,
  );
});

Deno.test("loadConfig() rejects an ack-progress interval not below AckWait", () => {
  assert.throws(
    () =>
      loadConfig({
        env: { PYOCO_CONSUMER_ACK_WAIT_SEC: "5", PYOCO_ACK_PROGRESS_INTERVAL_SEC: "5" },
        envFile: false,
      }),
    /PYOCO_ACK_PROGRESS_INTERVAL_SEC/,
  );
});

Deno.test("loadConfig() never echoes a secret value", () => {
  assert.throws(
    () =>
      loadConfig({ env: { PYOCO_NATS_URL: "nats://user:hunter2@host:4222 x" }, envFile: false }),
    (err: unknown) => err instanceof ConfigError && !String(err.message).includes("hunter2"),
  );
});

Deno.test("loadConfig() reads .env and the process environment wins", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/pyoco.env`;
  await Deno.writeTextFile(
    file,
    "# comment\nPYOCO_HTTP_PORT=9100\nPYOCO_DEFAULT_TAG=cpu\nexport PYOCO_LOG_LEVEL=debug\n",
  );
  try {
    const c = loadConfig({ env: { PYOCO_ENV_FILE: file, PYOCO_DEFAULT_TAG: "gpu" } });
    assert.equal(c.httpPort, 9100);
    assert.equal(c.defaultTag, "gpu");
    assert.equal(c.logLevel, "DEBUG");
    assert.throws(
      () => loadConfig({ env: { PYOCO_ENV_FILE: `${dir}/missing.env` } }),
      /PYOCO_ENV_FILE/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CONFIG_VARIABLES are all listed in .env.example and docs/config.md", async () => {
  const example = await Deno.readTextFile(new URL("../../.env.example", import.meta.url));
  const doc = await Deno.readTextFile(new URL("../../docs/config.md", import.meta.url));
  for (const v of CONFIG_VARIABLES) {
    assert.ok(example.includes(`${v.env}=`), `${v.env} missing from .env.example`);
    assert.ok(doc.includes(`\`${v.env}\``), `${v.env} missing from docs/config.md`);
  }
});

Deno.test("loadConfig() gives the Part II variables their SPEC §10–§14 defaults", () => {
  const c = loadConfig({ env: {}, envFile: false });
  assert.equal(c.natsRetrySec, 10);
  assert.equal(c.runningWriteAfterMs, 50);
  assert.equal(c.batchMaxRuns, 500);
  assert.equal(c.runsRetentionSec, 2592000);
  assert.equal(c.orphanAfterSec, 30);
  assert.equal(c.submitFlowCheck, "catalog");
  assert.equal(c.workersHistorySec, 3600);
  assert.equal(c.flowsKvBucket, "pyoco_flows");
  assert.equal(c.tenantIsolation, "shared");
  assert.equal(c.tenantMaxRunning, 0);
  assert.equal(c.scheduler, "on");
  assert.equal(c.schedulesKvBucket, "pyoco_schedules");
});

Deno.test("loadConfig() validates the Part II variables", () => {
  const bad: Record<string, string> = {
    PYOCO_NATS_RETRY_SEC: "-1",
    PYOCO_RUNNING_WRITE_AFTER_MS: "1.5",
    PYOCO_BATCH_MAX_RUNS: "0",
    PYOCO_RUNS_RETENTION_SEC: "forever",
    PYOCO_ORPHAN_AFTER_SEC: "61",
    PYOCO_SUBMIT_FLOW_CHECK: "strict",
    PYOCO_WORKERS_HISTORY_SEC: "-5",
    PYOCO_FLOWS_KV_BUCKET: "a.b",
    PYOCO_TENANT_ISOLATION: "private",
    PYOCO_TENANT_MAX_RUNNING: "-1",
    PYOCO_SCHEDULER: "maybe",
    PYOCO_SCHEDULES_KV_BUCKET: "",
  };
  for (const [name, value] of Object.entries(bad)) {
    assert.throws(
      () => loadConfig({ env: { [name]: value }, envFile: false }),
      (err: unknown) => err instanceof ConfigError && err.variable === name,
      `${name}=${value} should be rejected`,
    );
  }
  const c = loadConfig({
    env: {
      PYOCO_RUNS_RETENTION_SEC: "0",
      PYOCO_RUNNING_WRITE_AFTER_MS: "0",
      PYOCO_SCHEDULER: "OFF",
    },
    envFile: false,
  });
  assert.equal(c.runsRetentionSec, 0);
  assert.equal(c.runningWriteAfterMs, 0);
  assert.equal(c.scheduler, "off");
});

Deno.test("loadConfig() takes fractional seconds in every *_SEC variable (SPEC §16)", () => {
  const secVars = CONFIG_VARIABLES.filter((v) => v.env.endsWith("_SEC"));
  assert.ok(secVars.length >= 15);
  const c = loadConfig({ env: { PYOCO_CONSUMER_ACK_WAIT_SEC: "0.2" }, envFile: false });
  assert.equal(c.consumerAckWaitSec, 0.2);
  // Unset, the in-progress interval follows a short AckWait instead of refusing to start.
  assert.ok(c.ackProgressIntervalSec < 0.2 && c.ackProgressIntervalSec > 0);
  // Set explicitly, it is still checked against AckWait.
  assert.throws(
    () =>
      loadConfig({
        env: { PYOCO_CONSUMER_ACK_WAIT_SEC: "0.2", PYOCO_ACK_PROGRESS_INTERVAL_SEC: "10" },
        envFile: false,
      }),
    /PYOCO_ACK_PROGRESS_INTERVAL_SEC=10: expected less than PYOCO_CONSUMER_ACK_WAIT_SEC/,
  );
  for (const v of secVars) {
    const fraction = v.env === "PYOCO_DUPLICATE_WINDOW_SEC" ? "120.5" : "0.25";
    const env: Record<string, string> = { [v.env]: fraction };
    if (v.env === "PYOCO_WORKERS_KV_TTL_SEC") env.PYOCO_WORKER_DISCONNECTED_AFTER_SEC = "0.1";
    const loaded = loadConfig({ env, envFile: false }) as unknown as Record<string, unknown>;
    assert.equal(loaded[v.key], Number(fraction), `${v.env}=${fraction}`);
  }
});

Deno.test("secondsToMs() and secondsToNanos() give whole numbers for any fraction", () => {
  assert.equal(
    Number.isInteger(1.001 * 1000),
    false,
    "the floating-point trap this guards against",
  );
  for (const sec of [1.001, 0.07, 0.2, 0.1 + 0.2, 1.005, 2.675, 30, 604800]) {
    assert.ok(Number.isInteger(secondsToMs(sec)), `${sec} s in ms`);
    assert.ok(Number.isInteger(secondsToNanos(sec)), `${sec} s in ns`);
  }
  assert.equal(secondsToMs(1.001), 1001);
  assert.equal(secondsToNanos(1.001), 1_001_000_000);
});

Deno.test("fractional *_SEC values reach NATS as whole durations", async () => {
  await using srv = await startNatsServer();
  const config = loadConfig({
    env: {
      PYOCO_NATS_URL: srv.url,
      PYOCO_CONSUMER_ACK_WAIT_SEC: "1.001",
      PYOCO_WORKERS_KV_TTL_SEC: "1.003",
      PYOCO_WORKER_DISCONNECTED_AFTER_SEC: "0.5",
      PYOCO_DLQ_MAX_AGE_SEC: "1.005",
      PYOCO_DUPLICATE_WINDOW_SEC: "121.001",
    },
    envFile: false,
  });
  const nc = await connect({ servers: srv.url });
  try {
    await ensureResources(nc, config);
    const jsm = await jetstreamManager(nc);
    await ensureConsumer(jsm, config, "frac");
    const ci = await jsm.consumers.info(config.workStream, "pyoco_workers_frac");
    assert.equal(ci.config.ack_wait, 1_001_000_000);
    assert.equal((await jsm.streams.info(config.dlqStream)).config.max_age, 1_005_000_000);
    assert.equal(
      (await jsm.streams.info(config.workStream)).config.duplicate_window,
      121_001_000_000,
    );
    const workers = await (await new Kvm(nc).open(config.workersKvBucket)).status();
    assert.equal(workers.ttl, 1003);
  } finally {
    await nc.close();
  }
});

Deno.test("a worker process starts with PYOCO_CONSUMER_ACK_WAIT_SEC=0.2", async () => {
  await using srv = await startNatsServer();
  await using worker = await startWorkerProcess({
    natsUrl: srv.url,
    flows: ["tests/fixtures/flows.ts"],
    tags: ["frac"],
    env: { PYOCO_CONSUMER_ACK_WAIT_SEC: "0.2" },
  });
  const nc = await connect({ servers: srv.url });
  try {
    const jsm = await jetstreamManager(nc);
    const ci = await jsm.consumers.info("PYOCO_WORK", "pyoco_workers_frac");
    assert.equal(ci.config.ack_wait, 200_000_000);
  } finally {
    await nc.close();
  }
  assert.equal(await worker.stop(), 0, worker.logs());
});

Deno.test("docs/config.md shows every variable's whole description, | included", async () => {
  const doc = await Deno.readTextFile(new URL("../../docs/config.md", import.meta.url));
  const rows = new Map<string, string[]>();
  for (const line of doc.split("\n")) {
    if (!line.startsWith("| `PYOCO_")) continue;
    // A cell ends at an unescaped |; the generator escapes the ones inside a description.
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim().replaceAll("\\|", "|"));
    rows.set(cells[0]!.replaceAll("`", ""), cells);
  }
  for (const v of CONFIG_VARIABLES) {
    const cells = rows.get(v.env);
    assert.ok(cells, `${v.env} has a row`);
    assert.equal(cells.length, 3, `${v.env}: ${JSON.stringify(cells)}`);
    assert.equal(cells[2]!.replace(" (secret: never logged)", ""), v.doc, v.env);
  }
  assert.equal(rows.get("PYOCO_HTTP_AUTH_MODE")![2], "none | api_key");
});
