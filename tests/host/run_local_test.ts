import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FlowNotFoundError, runLocal } from "../../src/host/run_local.ts";
import type { FlowEvent, RunResult } from "../../src/flow/types.ts";
import { poll, StopPolling } from "../_helpers/poll.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "cli/pyoco.ts");

interface CliOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `cli/pyoco.ts` as a real process from the repository root. */
async function pyoco(...args: string[]): Promise<CliOutput> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function tempYaml(
  text: string,
): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "pyoco_local_" });
  const path = join(dir, "flow.yaml");
  await Deno.writeTextFile(path, text);
  return { path, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("pyoco run runs examples/flow.yaml: exit 0, JSON result, progress on stderr", async () => {
  const { code, stdout, stderr } = await pyoco(
    "run",
    "examples/flow.yaml",
    "--tasks",
    "./examples/tasks.ts",
  );
  assert.equal(code, 0, stderr);
  const result: RunResult = JSON.parse(stdout);
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.outputs, { merge: { merged: ["CARROT", "torrac", 3] } });
  assert.equal(result.task_records.pause?.state, "SUCCEEDED");
  const lines = stderr.trimEnd().split("\n");
  const index = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const fetchStarted = index(/^\[\+\d+\.\d{3}s\] fetch: started \(attempt 1\)$/);
  const fetchLog = index(/fetch: log: fetching record 3$/);
  const fetchDone = index(/fetch: succeeded \(attempt 1, \d+ ms\)$/);
  const mergeDone = index(/merge: succeeded/);
  const runDone = index(/run \S+ COMPLETED$/);
  assert.ok(fetchStarted >= 0 && fetchStarted < fetchLog, stderr);
  assert.ok(fetchLog < fetchDone && fetchDone < mergeDone && mergeDone < runDone, stderr);
});

Deno.test("pyoco run runs a flow exported by a module, with --param and --params-file", async () => {
  await using file = await tempYaml("");
  const paramsFile = file.path.replace(/flow\.yaml$/, "params.json");
  await Deno.writeTextFile(paramsFile, JSON.stringify({ x: 5, note: "from file" }));
  const { code, stdout, stderr } = await pyoco(
    "run",
    "./examples/flows.ts",
    "--flow",
    "hello",
    "--params-file",
    paramsFile,
    "--param",
    "x=2",
  );
  assert.equal(code, 0, stderr);
  const result: RunResult = JSON.parse(stdout);
  assert.equal(result.status, "COMPLETED");
  assert.deepEqual(result.task_records.fetch_data?.output, { id: 2, value: "carrot" });
  assert.deepEqual(result.task_records.fetch_data?.inputs, { x: 2, note: "from file" });
  assert.deepEqual(result.outputs, { shout: "CARROT" });
});

Deno.test("pyoco run shows retries and exits 1 for a failing flow", async () => {
  await using file = await tempYaml(`flow:
  graph: start >> boom
tasks:
  start: { callable: "pyoco:echo", inputs: { value: 1 } }
  boom: { callable: "pyoco:fail", inputs: { message: "Boom on purpose" }, retries: 1, retry_delay_sec: 0 }
`);
  const { code, stdout, stderr } = await pyoco("run", file.path);
  assert.equal(code, 1, stderr);
  const result: RunResult = JSON.parse(stdout);
  assert.equal(result.status, "FAILED");
  assert.equal(result.task_records.boom?.attempts, 2);
  assert.match(result.error ?? "", /Boom on purpose/);
  assert.match(stderr, /boom: attempt 1 failed: Boom on purpose; retrying in 0 s/);
  assert.match(stderr, /boom: failed \(attempt 2, \d+ ms\): Boom on purpose/);
  assert.match(stderr, /run \S+ FAILED: /);
});

Deno.test("pyoco run --json writes events as JSON Lines and the result on one line", async () => {
  const { code, stdout, stderr } = await pyoco(
    "run",
    "./examples/flows.ts",
    "--flow",
    "retry_demo",
    "--json",
  );
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trimEnd().split("\n").length, 1);
  assert.equal(JSON.parse(stdout).status, "COMPLETED");
  const events: FlowEvent[] = stderr.trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.equal(events[0]?.type, "run.started");
  assert.equal(events.at(-1)?.type, "run.completed");
  const flaky = events.filter((e) => "task" in e && e.task === "flaky");
  assert.deepEqual(flaky.map((e) => e.type), [
    "task.started",
    "task.retrying",
    "task.started",
    "task.log",
    "task.succeeded",
  ]);
});

Deno.test("pyoco run exits 2 with a message for usage errors", async () => {
  const cases: [string[], RegExp][] = [
    [[], /Usage: pyoco <command>/],
    [["nope"], /unknown command "nope"/],
    [["run"], /Missing the flow to run/],
    [["run", "a.yaml", "b.yaml"], /Unexpected argument "b\.yaml"/],
    [["run", "examples/flow.yaml", "--bogus"], /Unknown option "--bogus"/],
    [["run", "examples/flow.yaml", "--param", "novalue"], /--param expects KEY=VALUE/],
    [["run", "examples/flow.yaml", "--max-concurrency", "0"], /--max-concurrency/],
    [["run", "missing.yaml"], /Cannot read workflow file "missing\.yaml"/],
    [["run", "examples/flow.yaml"], /Cannot resolve callable "tasks:fetchData".*\n.*--tasks/],
    [["run", "./examples/flows.ts"], /pick one with --flow NAME/],
    [["run", "./examples/flows.ts", "--flow", "nope"], /Cannot find flow "nope"/],
    [["run", "./no_such_module.ts"], /Cannot load module "\.\/no_such_module\.ts"/],
  ];
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = await pyoco(...args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, message, args.join(" "));
    assert.equal(stdout, "", args.join(" "));
  }
  const help = await pyoco("run", "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--params-file PATH/);
});

Deno.test("pyoco run exits 2 for an invalid flow.yaml, naming the key", async () => {
  await using file = await tempYaml("flow:\n  graph: a\n  color: blue\n");
  const { code, stderr } = await pyoco("run", file.path);
  assert.equal(code, 2);
  assert.match(stderr, /unknown key "color"/);
  assert.match(stderr, /flow\.color/);
});

Deno.test("pyoco run cancels the run on SIGINT and exits 130", {
  ignore: Deno.build.os === "windows",
}, async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "run", "./examples/flows.ts", "--flow", "sleepy"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdoutText = new Response(child.stdout).text();
  let stderr = "";
  let ended = false;
  const stderrDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
    ended = true;
  })();
  await poll(() => {
    if (ended) throw new StopPolling(`nap1 never started: ${stderr}`);
    return /nap1: started/.test(stderr);
  }, { timeoutMs: 15_000, message: () => `nap1 to start: ${stderr}` });
  child.kill("SIGINT");
  await stderrDone;
  const status = await child.status;
  assert.equal(status.code, 130, stderr);
  const result: RunResult = JSON.parse(await stdoutText);
  assert.equal(result.status, "CANCELLED");
  assert.equal(result.tasks.nap1, "CANCELLED");
  assert.equal(result.tasks.nap4, "CANCELLED");
  assert.match(stderr, /Interrupted: cancelling the run/);
  assert.match(stderr, /run \S+ CANCELLED/);
});

Deno.test("runLocal() overlays params on a flow.yaml's defaults locally", async () => {
  await using file = await tempYaml(`flow:
  graph: show
  defaults: { x: 1, y: 2 }
tasks:
  show: { callable: "pyoco:echo", inputs: { value: { x: $flow.x, y: $ctx.params.y } } }
`);
  const plain = await runLocal({ target: file.path });
  assert.deepEqual(plain.outputs, { show: { x: 1, y: 2 } });
  const overridden = await runLocal({ target: file.path, params: { x: 10 } });
  assert.deepEqual(overridden.outputs, { show: { x: 10, y: 2 } });
});

Deno.test("runLocal() picks the only flow of a module and rejects an unknown one", async () => {
  await assert.rejects(
    runLocal({ target: "./examples/flows.ts", flow: "nope" }),
    (err: unknown) => {
      assert.ok(err instanceof FlowNotFoundError);
      assert.equal(err.flowName, "nope");
      assert.ok(err.available.includes("hello"));
      return true;
    },
  );
  // A module with a single flow needs no --flow.
  const dir = await Deno.makeTempDir({ prefix: "pyoco_local_" });
  try {
    const taskTs = new URL("../../src/flow/task.ts", import.meta.url).href;
    const single = join(dir, "single.ts");
    await Deno.writeTextFile(
      single,
      `import { flow, task } from "${taskTs}";
export const only = flow("only", { graph: "one", tasks: [task("one", () => 1)] });\n`,
    );
    assert.deepEqual((await runLocal({ target: single })).outputs, { one: 1 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const events: string[] = [];
  const result = await runLocal({
    target: "./examples/flows.ts",
    flow: "fanout",
    onEvent: (e) => events.push(e.type),
    maxConcurrency: 1,
  });
  assert.equal(result.status, "COMPLETED");
  assert.equal(events[0], "run.started");
  assert.equal(events.at(-1), "run.completed");
});
