import assert from "node:assert/strict";
import { type CliRun, runPyoco } from "../_helpers/cli_process.ts";
import { PyocoClient } from "../../src/client/mod.ts";
import { startStack } from "../client/_stack.ts";
import { poll } from "../_helpers/poll.ts";

/** The permissions of the `pyoco` task in deno.json. */

function pyoco(args: string[], env: Record<string, string>): Promise<CliRun> {
  return runPyoco(args, { env });
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+/m, `stack trace in:\n${text}`);
}

Deno.test("pyoco schedule against a real gateway and worker", async (t) => {
  await using stack = await startStack();
  const env = { PYOCO_SERVER: stack.url };
  const client = new PyocoClient({ baseUrl: stack.url });
  const dir = await Deno.makeTempDir();
  let id = "";
  try {
    await t.step("create --every 1 --param --overlap --json, then its runs appear", async () => {
      const r = await pyoco([
        "schedule",
        "create",
        "--flow",
        "hello",
        "--every",
        "1",
        "--param",
        "x=4",
        "--overlap",
        "allow",
        "--catchup-window",
        "0",
        "--json",
      ], env);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      id = s.schedule_id;
      assert.equal(s.interval_seconds, 1);
      assert.deepEqual(s.params, { x: 4 });
      assert.equal(s.overlap, "allow");
      await poll(async () => (await client.scheduleRuns(id)).length >= 1, {
        timeoutMs: 20_000,
        message: "a run of the schedule",
      });
    });

    await t.step(
      "list shows a table with the rule; get shows the schedule and its runs",
      async () => {
        const list = await pyoco(["schedule", "list"], env);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, /^SCHEDULE_ID\s+FLOW\s+RULE\s+STATE\s+NEXT_RUN\s+LAST_STATUS/);
        assert.match(list.stdout, new RegExp(`^${id}\\s+hello\\s+every 1s\\s+ACTIVE`, "m"));
        const get = await pyoco(["schedule", "get", id], env);
        assert.equal(get.code, 0, get.stderr);
        assert.match(get.stdout, /^rule\s+every 1s$/m);
        assert.match(get.stdout, /^params\s+\{"x":4\}$/m);
        assert.match(get.stdout, /^RUN_ID\s+SCHEDULED_FOR\s+STATUS\s+HOW$/m);
        assert.match(get.stdout, /\s+slot$/m);
      },
    );

    await t.step("pause, trigger --wait, resume, runs, delete", async () => {
      const pause = await pyoco(["schedule", "pause", id], env);
      assert.equal(pause.code, 0, pause.stderr);
      assert.equal(pause.stdout, `Schedule ${id} paused\n`);
      assert.equal((await client.getSchedule(id)).paused, true);
      const trigger = await pyoco(["schedule", "trigger", id, "--wait", "--timeout", "30"], env);
      assert.equal(trigger.code, 0, `${trigger.stdout}\n${trigger.stderr}`);
      assert.match(trigger.stdout, /COMPLETED/);
      assert.match(trigger.stderr, new RegExp(`Triggered schedule ${id} as run \\S+`));
      const runs = await pyoco(["schedule", "runs", id, "--limit", "1"], env);
      assert.equal(runs.code, 0, runs.stderr);
      assert.match(runs.stdout, /COMPLETED\s+trigger$/m);
      const resume = await pyoco(["schedule", "resume", id], env);
      assert.equal(resume.code, 0, resume.stderr);
      assert.match(resume.stdout, new RegExp(`^Schedule ${id} resumed, next run `));
      const del = await pyoco(["schedule", "delete", id], env);
      assert.equal(del.code, 0, del.stderr);
      assert.equal(del.stdout, `Schedule ${id} deleted\n`);
      const gone = await pyoco(["schedule", "get", id], env);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /pyoco schedule list/);
      assertNoStack(gone.stderr);
    });

    await t.step("create --yaml FILE --at ISO and --cron --timezone --paused", async () => {
      const file = `${dir}/flow.yaml`;
      await Deno.writeTextFile(
        file,
        'version: 1\nflow:\n  graph: "say"\ntasks:\n  say: { callable: "pyoco:echo", inputs: { value: 1 } }\n',
      );
      const at = new Date(Date.now() + 3_600_000).toISOString();
      const yaml = await pyoco(
        ["schedule", "create", "--yaml", file, "--flow", "cli_sched", "--at", at],
        env,
      );
      assert.equal(yaml.code, 0, yaml.stderr);
      assert.match(yaml.stdout, /^Schedule \S+ created: once at .+, next run /);
      const cron = await pyoco([
        "schedule",
        "create",
        "--flow",
        "hello",
        "--cron",
        "30 2 * * *",
        "--timezone",
        "Europe/Berlin",
        "--paused",
        "--json",
      ], env);
      assert.equal(cron.code, 0, cron.stderr);
      const s = JSON.parse(cron.stdout);
      assert.equal(s.cron, "30 2 * * *");
      assert.equal(s.timezone, "Europe/Berlin");
      assert.equal(s.paused, true);
    });

    await t.step("mistakes get clear messages and no stack", async () => {
      const typo = await pyoco(["schedule", "craete"], env);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /unknown command "craete"\. Did you mean "create"\?/);
      const two = await pyoco(
        ["schedule", "create", "--flow", "hello", "--every", "5", "--cron", "* * * * *"],
        env,
      );
      assert.equal(two.code, 2);
      assert.match(two.stderr, /Give one rule only/);
      const none = await pyoco(["schedule", "create", "--flow", "hello"], env);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /Give a rule/);
      const flag = await pyoco(["schedule", "create", "--flow", "hello", "--evry", "5"], env);
      assert.equal(flag.code, 2);
      assert.match(flag.stderr, /Unknown option "--evry"\. Did you mean "--every"\?/);
      const cron = await pyoco(
        ["schedule", "create", "--flow", "hello", "--cron", "99 * * * *"],
        env,
      );
      assert.equal(cron.code, 1);
      assert.match(cron.stderr, /^ {2}cron: /m);
      const flow = await pyoco(["schedule", "create", "--flow", "helo", "--every", "60"], env);
      assert.equal(flow.code, 1);
      assert.match(flow.stderr, /hello/);
      for (const r of [typo, two, none, flag, cron, flow]) assertNoStack(r.stderr);
    });
  } catch (err) {
    console.error(stack.logs());
    throw err;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
