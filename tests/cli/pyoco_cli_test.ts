import assert from "node:assert/strict";
import { type CliRun, runPyoco } from "../_helpers/cli_process.ts";
import { PyocoClient } from "../../src/client/mod.ts";
import { freePort } from "../_helpers/nats_server.ts";
import { startStack } from "../client/_stack.ts";
import { poll } from "../_helpers/poll.ts";

const ROOT = new URL("../../", import.meta.url);
/** The permissions of the `pyoco` task in deno.json. */
const PERMS = ["--allow-net", "--allow-read", "--allow-env"];

function pyoco(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runPyoco(args, { env });
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+:\d+:\d+/m, `stack trace in:\n${text}`);
}

Deno.test("pyoco CLI against a real gateway and worker", async (t) => {
  await using stack = await startStack();
  const env = { PYOCO_SERVER: stack.url };
  let runId = "";

  try {
    await t.step("submit hello --param x=2 --wait exits 0 and prints COMPLETED", async () => {
      const r = await pyoco(["submit", "hello", "--param", "x=2", "--wait"], env);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const m = r.stdout.match(/^Run (\S+) COMPLETED/m);
      assert.ok(m, r.stdout);
      runId = m[1]!;
      // Not a TTY: one plain line per change on stderr.
      assert.match(r.stderr, new RegExp(`^\\d\\d:\\d\\d:\\d\\d run ${runId} [A-Z]+`, "m"));
      assert.match(r.stderr, /task \S+ SUCCEEDED/);
      assert.ok(!r.stderr.includes("\x1b["), "no cursor movement when not a TTY");
    });

    await t.step("submit parses --param values as JSON when they parse", async () => {
      const r = await pyoco([
        "submit",
        "hello",
        "--tag",
        "nobody",
        "--param",
        "x=2",
        "--param",
        "name=bob",
        "--param",
        'obj={"a":[1,true]}',
        "--json",
      ], env);
      assert.equal(r.code, 0, r.stderr);
      const { run_id } = JSON.parse(r.stdout);
      const got = await pyoco(["get", run_id, "--json"], env);
      assert.equal(got.code, 0, got.stderr);
      assert.deepEqual(JSON.parse(got.stdout).params, { x: 2, name: "bob", obj: { a: [1, true] } });
    });

    await t.step("list --json parses and includes the run; list prints a table", async () => {
      const r = await pyoco(["list", "--json"], env);
      assert.equal(r.code, 0, r.stderr);
      const runs = JSON.parse(r.stdout) as { run_id: string; status: string }[];
      assert.ok(runs.some((x) => x.run_id === runId && x.status === "COMPLETED"));
      const table = await pyoco(["list", "--status", "completed", "--flow", "hello"], env);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trimEnd().split("\n");
      assert.match(lines[0]!, /^RUN_ID\s+FLOW\s+STATUS\s+TAG\s+WORKER\s+UPDATED$/);
      const row = lines.find((l) => l.startsWith(runId));
      assert.ok(row, table.stdout);
      assert.match(row, /hello\s+COMPLETED\s+default\s+\S+\s+\d+[smhd] ago$/);
      // Columns are aligned: STATUS starts at the same offset in every line.
      const col = lines[0]!.indexOf("STATUS");
      for (const line of lines.slice(1)) assert.equal(line.slice(col, col + 9), "COMPLETED");
    });

    await t.step("get and tasks show the run", async () => {
      const r = await pyoco(["get", runId, "--records"], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^status\s+COMPLETED$/m);
      assert.match(r.stdout, /^TASK\s+STATE\s+ATTEMPTS/m);
      const tasks = await pyoco(["tasks", runId], env);
      assert.equal(tasks.code, 0, tasks.stderr);
      assert.match(tasks.stdout, /SUCCEEDED/);
    });

    await t.step("submit-yaml FILE --flow-name N --wait exits 0", async () => {
      const dir = await Deno.makeTempDir();
      try {
        const file = `${dir}/flow.yaml`;
        await Deno.writeTextFile(
          file,
          'version: 1\nflow:\n  graph: "say"\ntasks:\n  say: { callable: "pyoco:echo", inputs: { value: 42 } }\n',
        );
        const r = await pyoco(["submit-yaml", file, "--flow-name", "cli_yaml", "--wait"], env);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /COMPLETED/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("submit-yaml takes --param and a YAML --params-file (SPEC §15)", async () => {
      const dir = await Deno.makeTempDir();
      try {
        const file = `${dir}/flow.yaml`;
        await Deno.writeTextFile(
          file,
          'version: 1\nflow:\n  graph: "say"\n  defaults: { v: 1, keep: true }\n' +
            'tasks:\n  say: { callable: "pyoco:echo", inputs: { value: "$ctx.params.v" } }\n',
        );
        await Deno.writeTextFile(`${dir}/p.yaml`, "v: 5\n");
        const r = await pyoco([
          "submit-yaml",
          file,
          "--flow-name",
          "cli_yaml_params",
          "--params-file",
          `${dir}/p.yaml`,
          "--param",
          "extra=x",
          "--json",
        ], env);
        assert.equal(r.code, 0, r.stderr);
        const got = await pyoco(["get", JSON.parse(r.stdout).run_id, "--json"], env);
        assert.deepEqual(JSON.parse(got.stdout).params, { v: 5, keep: true, extra: "x" });
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("workers lists the worker", async () => {
      const r = await poll(async () => {
        const res = await pyoco(["workers", "--json"], env);
        return res.code === 0 && JSON.parse(res.stdout).length > 0 ? res : null;
      }, { message: "a worker" });
      assert.ok(Array.isArray(JSON.parse(r.stdout)));
    });

    await t.step("get of an unknown run exits 1 with a readable message", async () => {
      const r = await pyoco(["get", "no-such-run"], env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: .*no-such-run.*: check the run id with `pyoco list`/m);
      assertNoStack(r.stderr);
    });

    await t.step("submit with an invalid tag prints each errors[].path: message", async () => {
      const r = await pyoco(["submit", "hello", "--tag", "bad tag"], env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /The gateway rejected the request/);
      assert.match(r.stderr, /^ {2}\S*tag\S*: .+/m);
      assertNoStack(r.stderr);
    });

    await t.step("usage errors exit 2 with the usage", async () => {
      for (
        const args of [
          ["submit"],
          ["submit", "hello", "--bogus"],
          ["list", "--limit", "many"],
          ["submit", "hello", "--param", "novalue"],
          ["submit-yaml", "x.yaml"],
          ["get", "a", "b"],
          ["watch"],
          ["logs", "a", "b"],
          ["cancel", "a", "--timeout", "soon"],
        ]
      ) {
        const r = await pyoco(args, env);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`Usage: pyoco ${args[0]}`));
        assertNoStack(r.stderr);
      }
    });

    await t.step("wait --timeout on a run nobody serves exits 124, in seconds", async () => {
      const sub = await pyoco(["submit", "hello", "--tag", "nobody", "--json"], env);
      const { run_id } = JSON.parse(sub.stdout);
      const r = await pyoco(["wait", run_id, "--timeout", "0.3"], env);
      assert.equal(r.code, 124);
      assert.match(r.stderr, /did not finish within 0\.3 s/);
    });

    await t.step(
      "submit --wait --timeout exits 124 (not 1 like FAILED), says seconds, PENDING once",
      async () => {
        const r = await pyoco(
          ["submit", "hello", "--tag", "nobody", "--wait", "--timeout", "1"],
          env,
        );
        assert.equal(r.code, 124, `${r.stdout}\n${r.stderr}`);
        assert.equal(r.stdout, "");
        assert.match(
          r.stderr,
          /^error: Run \S+ did not finish within 1 s \(last status PENDING[^)]*\); the run goes on on the server/m,
        );
        assert.doesNotMatch(r.stderr, /\d ms/);
        assert.equal(r.stderr.match(/ PENDING\n/g)?.length, 1, r.stderr);
        // The gateway says why the run waits (SPEC §12); it is shown once, and in the message.
        assert.equal(
          r.stderr.match(/ waiting: no live worker serves tag nobody\n/g)?.length,
          1,
          r.stderr,
        );
        assert.match(r.stderr, /last status PENDING: no live worker serves tag nobody\)/);
        assertNoStack(r.stderr);
      },
    );

    await t.step(
      "submit --wait shows retries and ctx.log lines, and nothing after the final status",
      async () => {
        const r = await pyoco(["submit", "retry_demo", "--wait"], env);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        const runId = r.stdout.match(/^Run (\S+) COMPLETED/m)?.[1];
        assert.ok(runId, r.stdout);
        const lines = r.stderr.trimEnd().split("\n");
        assert.ok(
          lines.some((l) =>
            /^\d\d:\d\d:\d\d flaky: attempt 1 failed: .+; retrying in .+ s$/.test(l)
          ),
          r.stderr,
        );
        assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d \w+: log: .+/.test(l)), r.stderr);
        assert.match(r.stderr, /task flaky SUCCEEDED/);
        // The final status line is the last line: no task line after "COMPLETED".
        assert.match(lines.at(-1)!, new RegExp(`^\\d\\d:\\d\\d:\\d\\d run ${runId} COMPLETED`));
        assert.equal(lines.filter((l) => l.includes(`run ${runId} COMPLETED`)).length, 1);
      },
    );

    await t.step({
      name: "submit --wait on a terminal redraws one block, retries above it, result last",
      ignore: Deno.build.os !== "linux",
      fn: async () => {
        // util-linux script(1) gives the CLI a pseudo-terminal (stdout and stderr both).
        const cmd = [Deno.execPath(), "run", ...PERMS, "cli/pyoco.ts", "submit", "retry_demo"]
          .concat(["--wait"]).map((a) => `'${a}'`).join(" ");
        const out = await new Deno.Command("script", {
          args: ["-qec", cmd, "/dev/null"],
          cwd: ROOT,
          env: { ...env, TERM: "xterm" },
          stdin: "null",
        }).output();
        const text = new TextDecoder().decode(out.stdout).replaceAll("\r\n", "\n");
        assert.equal(out.code, 0, text);
        const runId = text.match(/Run (\S+) COMPLETED in/)?.[1];
        assert.ok(runId, text);
        const esc = String.fromCharCode(27);
        assert.match(text, /\d\d:\d\d:\d\d flaky: attempt 1 failed: .+; retrying in/);
        // After the final block (status COMPLETED, its tasks), only the result follows.
        const last = text.lastIndexOf(`run ${runId}  retry_demo  COMPLETED`);
        assert.ok(last >= 0, text);
        const tail = text.slice(last).split("\n").slice(1);
        const result = tail.findIndex((l) => l.startsWith(`Run ${runId} COMPLETED in`));
        assert.ok(tail.slice(0, result).every((l) => /^ {2}✓ \w+ +SUCCEEDED$/.test(l)), text);
        const after = tail.slice(result).join("\n");
        assert.ok(!after.includes(`${esc}[`), text);
        assert.doesNotMatch(after, /task |SUCCEEDED/);
      },
    });

    await t.step("a mistyped option gets a suggestion, in plain words", async () => {
      const r = await pyoco(["submit", "hello", "--tgs", "a,b"], env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^pyoco submit: Unknown option "--tgs"\. Did you mean "--tags"\?$/m);
      assert.doesNotMatch(r.stderr, /positional|'--/);
      const cmd = await pyoco(["sumbit", "hello"], env);
      assert.equal(cmd.code, 2);
      assert.match(cmd.stderr, /unknown command "sumbit"\. Did you mean "submit"\?/);
      const run = await pyoco(["run", "examples/flow.yaml", "--taks", "x.ts"], env);
      assert.equal(run.code, 2);
      assert.match(run.stderr, /Unknown option "--taks"\. Did you mean "--tasks"\?/);
    });

    await t.step("flows lists the catalog; flows FLOW shows one; a typo is named", async () => {
      const r = await poll(async () => {
        const res = await pyoco(["flows"], env);
        return res.code === 0 && /\bhello\b/.test(res.stdout) ? res : null;
      }, { message: "the catalog to list hello" });
      assert.match(r.stdout, /^TAG\s+FLOW\s+WORKERS\s+UPDATED\s+GRAPH$/m);
      assert.match(r.stdout, /^default\s+hello\s+1\s+\d+[smhd] ago\s+fetch_data >> shout$/m);
      const one = await pyoco(["flows", "hello"], env);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /^graph\s+fetch_data >> shout$/m);
      assert.match(one.stdout, /^tasks\s+fetch_data, shout$/m);
      const json = await pyoco(["flows", "--tag", "default", "--json"], env);
      assert.ok(
        JSON.parse(json.stdout).some((f: { flow_name: string }) => f.flow_name === "hello"),
      );
      const missing = await pyoco(["flows", "helo"], env);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /No worker offers flow "helo" on any tag \(offered: .*hello/);
      const typo = await pyoco(["submit", "helo"], env);
      assert.equal(typo.code, 1);
      assert.match(typo.stderr, /helo/);
      assert.match(typo.stderr, /did you mean "hello"/i);
      assertNoStack(typo.stderr);
    });

    await t.step("get and watch accept a run id prefix (SPEC §15)", async () => {
      const r = await pyoco(["get", runId.slice(0, 8)], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^run_id\\s+${runId}$`, "m"));
      const w = await pyoco(["watch", runId.slice(0, 10)], env);
      assert.equal(w.code, 0, w.stderr);
      assert.match(w.stdout, new RegExp(`^Run ${runId} COMPLETED`, "m"));
      const short = await pyoco(["get", runId.slice(0, 3)], env);
      assert.equal(short.code, 1);
      assertNoStack(short.stderr);
    });

    await t.step(
      "watch ID --events prints progress, log lines and the result; exits 0",
      async () => {
        const sub = await pyoco(["submit", "hello", "--param", "x=4", "--json"], env);
        const { run_id } = JSON.parse(sub.stdout);
        const r = await pyoco(["watch", run_id, "--events"], env);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        const lines = r.stdout.trimEnd().split("\n");
        assert.match(
          lines[0]!,
          new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  run ${run_id} started \\(flow hello\\)$`),
        );
        assert.ok(
          lines.some((l) => /^\S+ {2}fetch_data: log: fetching record 4$/.test(l)),
          r.stdout,
        );
        // The events (run.completed last), then the result and its outputs.
        const result = lines.findIndex((l) => l.startsWith(`Run ${run_id} COMPLETED`));
        assert.match(lines[result - 1]!, new RegExp(`^\\S+  run ${run_id} COMPLETED$`));
        assert.deepEqual(lines.slice(result + 1), ['outputs: {"shout":"CARROT"}']);
        assert.match(r.stderr, new RegExp(`run ${run_id} COMPLETED`));
        assert.ok(!r.stderr.includes("\x1b["));
        // Each change once: task changes are the events on stdout, not also lines on stderr.
        assert.doesNotMatch(r.stderr, /task \S+ (RUNNING|SUCCEEDED)/);
        assert.equal(new Set(lines).size, lines.length, r.stdout);
        assert.equal(
          lines.filter((l) => l.endsWith("fetch_data: succeeded (attempt 1)")).length,
          1,
        );
      },
    );

    await t.step(
      "watch ID --json prints one JSON line per item, the terminal snapshot last",
      async () => {
        const sub = await pyoco(["submit", "hello", "--json"], env);
        const { run_id } = JSON.parse(sub.stdout);
        const r = await pyoco(["watch", run_id, "--json", "--events"], env);
        assert.equal(r.code, 0, r.stderr);
        const items = r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
        assert.ok(items.every((i) => i.type === "snapshot" || i.type === "event"));
        assert.equal(items.at(-1).type, "snapshot");
        assert.equal(items.at(-1).snapshot.status, "COMPLETED");
        assert.ok(items.some((i) => i.type === "event" && i.event.type === "task.log"));
        assert.equal(r.stderr, "");
      },
    );

    await t.step("cancel ID of a PENDING run exits 0; watching it then exits 1", async () => {
      const sub = await pyoco(["submit", "hello", "--tag", "nobody", "--json"], env);
      const { run_id } = JSON.parse(sub.stdout);
      const r = await pyoco(["cancel", run_id], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `Run ${run_id} CANCELLED\n`);
      const json = await pyoco(["cancel", run_id, "--json"], env);
      assert.equal(json.code, 0, json.stderr);
      assert.equal(JSON.parse(json.stdout).status, "CANCELLED");
      const w = await pyoco(["watch", run_id], env);
      assert.equal(w.code, 1);
      assert.match(
        w.stdout,
        new RegExp(`^Run ${run_id} CANCELLED.*: Run cancelled by request$`, "m"),
      );
    });

    await t.step(
      "cancel of a finished run exits 1 and says there is nothing to cancel",
      async () => {
        const r = await pyoco(["cancel", runId], env);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          new RegExp(`^Run ${runId} had already COMPLETED: nothing to cancel$`, "m"),
        );
        const missing = await pyoco(["cancel", "no-such-run"], env);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /check the run id with `pyoco list`/);
      },
    );

    await t.step("cancel ID --wait stops a RUNNING sleepy run through its worker", async () => {
      const client = new PyocoClient({ baseUrl: stack.url });
      const { run_id } = await client.submitRun({ flowName: "sleepy" });
      await poll(async () => (await client.getRun(run_id)).status === "RUNNING", {
        message: "RUNNING",
      });
      const r = await pyoco(["cancel", run_id, "--wait"], env);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${stack.logs()}`);
      assert.match(r.stderr, new RegExp(`^Run ${run_id} CANCELLING: waiting for its worker`, "m"));
      assert.match(r.stdout, new RegExp(`^Run ${run_id} CANCELLED`, "m"));
      assert.equal((await client.getRun(run_id)).status, "CANCELLED");
    });

    await t.step("logs ID prints the stored events; --json as JSON lines", async () => {
      const r = await pyoco(["logs", runId], env);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n");
      assert.match(lines[0]!, new RegExp(`^\\S+  run ${runId} started \\(flow hello\\)$`));
      assert.ok(lines.some((l) => l.endsWith("fetch_data: log: fetching record 2")), r.stdout);
      assert.match(lines.at(-1)!, new RegExp(`^\\S+  run ${runId} COMPLETED$`));
      const j = await pyoco(["logs", runId, "--json"], env);
      assert.equal(j.code, 0, j.stderr);
      const events = j.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
      assert.equal(events.length, lines.length);
      for (let i = 1; i < events.length; i++) assert.ok(events[i].seq > events[i - 1].seq);
    });

    await t.step(
      "logs ID --follow prints events until the run ends, exits 0 on COMPLETED",
      async () => {
        const sub = await pyoco(["submit", "sleepy", "--json"], env);
        const { run_id } = JSON.parse(sub.stdout);
        const r = await pyoco(["logs", run_id, "--follow"], env);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        const lines = r.stdout.trimEnd().split("\n");
        assert.match(lines[0]!, new RegExp(`run ${run_id} started \\(flow sleepy\\)$`));
        for (const nap of ["nap1", "nap2", "nap3", "nap4"]) {
          assert.equal(
            lines.filter((l) => l.endsWith(`  ${nap}: succeeded (attempt 1)`)).length,
            1,
          );
        }
        assert.match(lines.at(-1)!, new RegExp(`^\\S+  run ${run_id} COMPLETED$`));
        // Each event once: no line repeated between the stored page and the live stream.
        assert.equal(new Set(lines).size, lines.length);
        assert.equal(r.stderr, `Run ${run_id} COMPLETED\n`);
      },
    );

    await t.step("Ctrl-C while waiting exits 130 and says the run goes on", async () => {
      const sub = await pyoco(["submit", "hello", "--tag", "nobody", "--json"], env);
      const { run_id } = JSON.parse(sub.stdout);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...PERMS, "cli/pyoco.ts", "wait", run_id],
        cwd: ROOT,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let stderr = "";
      const dec = new TextDecoder();
      const reading = (async () => {
        for await (const chunk of child.stderr) stderr += dec.decode(chunk, { stream: true });
      })();
      const stdout = child.stdout.text();
      await poll(() => stderr.includes(`run ${run_id} PENDING`), {
        message: "the first progress line",
      });
      child.kill("SIGINT");
      const status = await child.status;
      await reading;
      await stdout;
      assert.equal(status.code, 130, stderr);
      assert.match(stderr, /Interrupted: stopped waiting for run .*it goes on on the server/);
    });
  } catch (err) {
    console.error(stack.logs());
    throw err;
  }
});

Deno.test("pyoco CLI says how to start an unreachable gateway", async () => {
  const server = `http://127.0.0.1:${freePort()}`;
  const r = await pyoco(["list", "--server", server]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`Cannot reach the gateway at ${server}: is it running\\?`));
  assert.match(r.stderr, /deno task dev/);
  assertNoStack(r.stderr);
});
