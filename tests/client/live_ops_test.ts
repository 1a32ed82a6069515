/**
 * The client's live operations against a real stack (nats-server, gateway process, worker
 * process with `examples/flows.ts`): watchRun, watchRuns, cancelRun, getEvents / iterateEvents,
 * listRunsPage / iterateRuns.
 */
import assert from "node:assert/strict";
import { PyocoClient, PyocoHttpError } from "../../src/client/mod.ts";
import type { RunEvent, RunSnapshot, RunSummary, RunWatchItem } from "../../src/client/mod.ts";
import { startStack } from "./_stack.ts";
import { poll } from "../_helpers/poll.ts";

const FAST_RETRY = { attempts: 3, baseDelayMs: 20, maxDelayMs: 100 };

async function _items(items: AsyncIterable<RunWatchItem>): Promise<RunWatchItem[]> {
  const out: RunWatchItem[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function _snapshots(items: RunWatchItem[]): RunSnapshot[] {
  return items.flatMap((i) => i.type === "snapshot" ? [i.snapshot] : []);
}

function _events(items: RunWatchItem[]): RunEvent[] {
  return items.flatMap((i) => i.type === "event" ? [i.event] : []);
}

Deno.test("PyocoClient live operations against a real gateway and worker", async (t) => {
  await using stack = await startStack();
  const client = new PyocoClient({ baseUrl: stack.url, retry: FAST_RETRY });
  let helloRunId = "";
  let terminalId = "";
  let sleepyRunId = "";

  try {
    await t.step("watchRun() yields snapshots in order and ends at the terminal one", async () => {
      // sleepy runs ~2.4 s in four steps: the watch sees several states whenever it connects.
      const { run_id } = await client.submitRun({ flowName: "sleepy" });
      const items = await _items(client.watchRun(run_id, { include: ["records"] }));
      assert.ok(items.every((i) => i.type === "snapshot"), "no events unless asked for");
      const snapshots = _snapshots(items);
      assert.ok(snapshots.length >= 3, JSON.stringify(snapshots.map((s) => s.tasks)));
      assert.equal(snapshots.at(-1)?.status, "COMPLETED", stack.logs());
      assert.ok(
        snapshots.slice(0, -1).every((s) => s.status === "PENDING" || s.status === "RUNNING"),
      );
      // Revisions (the ids) strictly increase: nothing repeated, nothing out of order.
      const revisions = items.map((i) => Number(i.id));
      for (let i = 1; i < revisions.length; i++) assert.ok(revisions[i]! > revisions[i - 1]!);
      // Neither the run nor a task ever goes back to an earlier state.
      const order = ["PENDING", "RUNNING", "SUCCEEDED", "COMPLETED"];
      const ranks = (states: string[]) => states.map((x) => order.indexOf(x));
      for (let i = 1; i < snapshots.length; i++) {
        const [before, after] = [snapshots[i - 1]!, snapshots[i]!];
        assert.ok(ranks([after.status])[0]! >= ranks([before.status])[0]!);
        for (const task of ["nap1", "nap2", "nap3", "nap4"]) {
          const b = ranks([before.tasks[task] ?? "PENDING"])[0]!;
          assert.ok(ranks([after.tasks[task] ?? "PENDING"])[0]! >= b, task);
        }
      }
      const final = snapshots.at(-1)!;
      for (const task of ["nap1", "nap2", "nap3", "nap4"]) {
        assert.equal(final.task_records?.[task]?.state, "SUCCEEDED");
      }
      terminalId = items.at(-1)!.id!;
      sleepyRunId = run_id;
    });

    await t.step(
      "watchRun() resumed at the terminal id ends at once, yielding nothing",
      async () => {
        const items = await _items(client.watchRun(sleepyRunId, { lastEventId: terminalId }));
        assert.deepEqual(items, []);
      },
    );

    await t.step(
      "watchRun({ events: true }) interleaves events before the terminal snapshot",
      async () => {
        const { run_id } = await client.submitRun({ flowName: "hello", params: { x: 2 } });
        helloRunId = run_id;
        const items = await _items(client.watchRun(run_id, { events: true }));
        const last = items.at(-1);
        assert.equal(last?.type, "snapshot");
        assert.equal(last.type === "snapshot" && last.snapshot.status, "COMPLETED");
        const events = _events(items);
        const types = events.map((e) => e.type);
        assert.equal(types[0], "run.started", types.join(","));
        assert.equal(types.at(-1), "run.completed", types.join(","));
        const log = events.find((e) => e.type === "task.log");
        assert.equal(log?.task, "fetch_data");
        assert.equal(log?.message, "fetching record 2");
        for (let i = 1; i < events.length; i++) assert.ok(events[i]!.seq > events[i - 1]!.seq);
        for (const item of items) assert.match(item.id ?? "", /^\d+-\d+$/);
        // Every event the run stored was yielded, in the same order.
        const stored = await client.getEvents(run_id, { limit: 1000 });
        assert.deepEqual(events.map((e) => e.seq), stored.events.map((e) => e.seq));
      },
    );

    await t.step("watchRun() of an unknown run → PyocoHttpError 404 ERR-PYOCO-0005", async () => {
      const err = await _items(client.watchRun("no-such-run")).catch((e) => e);
      assert.ok(err instanceof PyocoHttpError, String(err));
      assert.equal(err.status, 404);
      assert.equal(err.errId, "ERR-PYOCO-0005");
    });

    await t.step("getEvents() reads run.started … run.completed with the log lines", async () => {
      const page = await client.getEvents(helloRunId);
      assert.equal(page.run_id, helloRunId);
      const types = page.events.map((e) => e.type);
      assert.equal(types[0], "run.started");
      assert.equal(types.at(-1), "run.completed");
      assert.ok(types.includes("task.started") && types.includes("task.succeeded"));
      assert.deepEqual(
        page.events.filter((e) => e.type === "task.log").map((e) => [e.task, e.message]),
        [["fetch_data", "fetching record 2"]],
      );
      assert.equal(page.next_after_seq, page.events.at(-1)!.seq);
      // Paging: two at a time gives the same events; past the end, an empty page.
      const first = await client.getEvents(helloRunId, { limit: 2 });
      assert.deepEqual(first.events, page.events.slice(0, 2));
      const rest = await client.getEvents(helloRunId, { afterSeq: first.next_after_seq });
      assert.deepEqual(rest.events, page.events.slice(2));
      const past = await client.getEvents(helloRunId, { afterSeq: page.next_after_seq });
      assert.deepEqual(past, {
        run_id: helloRunId,
        events: [],
        next_after_seq: page.next_after_seq,
      });
      const all: RunEvent[] = [];
      for await (const e of client.iterateEvents(helloRunId, { pageSize: 2 })) all.push(e);
      assert.deepEqual(all, page.events);
      const bad = await client.getEvents(helloRunId, { limit: 0 }).catch((e) => e);
      assert.ok(bad instanceof PyocoHttpError);
      assert.equal(bad.status, 422);
      const missing = await client.getEvents("no-such-run").catch((e) => e);
      assert.ok(missing instanceof PyocoHttpError);
      assert.equal(missing.errId, "ERR-PYOCO-0005");
    });

    await t.step(
      "cancelRun() of a PENDING run → CANCELLED at once, without task_records",
      async () => {
        const { run_id } = await client.submitRun({ flowName: "hello", tag: "nobody_cancel" });
        const snapshot = await client.cancelRun(run_id);
        assert.equal(snapshot.run_id, run_id);
        assert.equal(snapshot.status, "CANCELLED");
        assert.equal(snapshot.error, "Run cancelled by request");
        assert.equal(typeof snapshot.end_time, "number");
        assert.equal(typeof snapshot.cancel_requested_at, "number");
        assert.ok(!("task_records" in snapshot));
        assert.ok(Object.values(snapshot.tasks).every((s) => s === "CANCELLED"));
        // Idempotent: a second cancel leaves it as it is.
        const again = await client.cancelRun(run_id);
        assert.equal(again.status, "CANCELLED");
        assert.equal(again.updated_at, snapshot.updated_at);
        const watched = _snapshots(await _items(client.watchRun(run_id)));
        assert.deepEqual(watched.map((s) => s.status), ["CANCELLED"]);
        const err = await client.cancelRun("no-such-run").catch((e) => e);
        assert.ok(err instanceof PyocoHttpError);
        assert.equal(err.status, 404);
        assert.equal(err.errId, "ERR-PYOCO-0005");
      },
    );

    await t.step(
      "cancelRun() of a RUNNING sleepy run → CANCELLING → CANCELLED by its worker",
      async () => {
        const { run_id } = await client.submitRun({ flowName: "sleepy" });
        const statuses: string[] = [];
        let cancelAnswer: RunSnapshot | null = null;
        let final: RunSnapshot | null = null;
        for await (const item of client.watchRun(run_id, { events: true })) {
          if (item.type !== "snapshot") continue;
          statuses.push(item.snapshot.status);
          if (item.snapshot.status === "RUNNING" && cancelAnswer === null) {
            cancelAnswer = await client.cancelRun(run_id);
          }
          final = item.snapshot;
        }
        assert.equal(cancelAnswer?.status, "CANCELLING", JSON.stringify(statuses));
        assert.equal(typeof cancelAnswer?.cancel_requested_at, "number");
        assert.equal(final?.status, "CANCELLED", `${JSON.stringify(statuses)}\n${stack.logs()}`);
        const i = statuses.indexOf("CANCELLING");
        assert.ok(
          i > statuses.indexOf("RUNNING") && i < statuses.indexOf("CANCELLED"),
          statuses.join(),
        );
        // The worker stopped the flow: nap4 never succeeded.
        assert.notEqual(final?.tasks.nap4, "SUCCEEDED");
        const types = (await client.getEvents(run_id, { limit: 1000 })).events.map((e) => e.type);
        assert.equal(types.at(-1), "run.cancelled", types.join(","));
        assert.ok(!types.includes("run.completed"));
      },
    );

    await t.step("iterateRuns() visits every run exactly once across pages", async () => {
      const flowName = `paged_${crypto.randomUUID().slice(0, 8)}`;
      const submitted = new Set<string>();
      for (let i = 0; i < 25; i++) {
        submitted.add((await client.submitRun({ flowName, tag: "nobody_paged" })).run_id);
      }
      // The gateway's index follows the runs bucket asynchronously: wait until it has all 25.
      const pages = await poll(async () => {
        const out = [];
        for await (const page of client.iterateRuns({ flow: flowName, pageSize: 10 })) {
          out.push(page);
        }
        return out.flatMap((p) => p.items).length === 25 ? out : null;
      }, { message: "25 runs in the delta listing" });
      assert.deepEqual(pages.map((p) => p.items.length), [10, 10, 5]);
      assert.deepEqual(pages.map((p) => p.has_more), [true, true, false]);
      const ids = pages.flatMap((p) => p.items.map((r: RunSummary) => r.run_id));
      assert.equal(new Set(ids).size, 25, "no run twice");
      assert.deepEqual(new Set(ids), submitted);
      assert.ok(pages.flatMap((p) => p.items).every((r) => r.flow_name === flowName));

      // Following the last cursor later gives only what changed since.
      const cursor = pages.at(-1)!.next_cursor;
      const { run_id: late } = await client.submitRun({ flowName, tag: "nobody_paged" });
      const after = await poll(async () => {
        const page = await client.listRunsPage({ flow: flowName, cursor });
        return page.items.length > 0 ? page : null;
      }, { message: "the late run after the cursor" });
      assert.deepEqual(after.items.map((r) => r.run_id), [late]);
      assert.equal(after.has_more, false);

      // updatedAfter in the future: nothing; full: whole snapshots.
      const none = await client.listRunsPage({
        flow: flowName,
        updatedAfter: Date.now() / 1000 + 3600,
      });
      assert.deepEqual(none.items, []);
      assert.equal(typeof none.next_cursor, "string");
      const full = await client.listRunsPage({ flow: flowName, limit: 1, full: true });
      assert.equal(full.items.length, 1);
      assert.equal(typeof full.items[0]?.params, "object");

      const bad = await client.listRunsPage({ cursor: "not-a-cursor" }).catch((e) => e);
      assert.ok(bad instanceof PyocoHttpError);
      assert.equal(bad.status, 422);
      assert.equal(bad.errId, "ERR-PYOCO-0002");
    });

    await t.step(
      "watchRuns() replays after Last-Event-ID, then reports changes until aborted",
      async () => {
        const flowName = `watched_${crypto.randomUUID().slice(0, 8)}`;
        const { run_id } = await client.submitRun({ flowName, tag: "nobody_w" });
        // The run's revision (its watch id) tells where to start: just before its submission.
        let revision = 0;
        for await (const item of client.watchRun(run_id)) {
          revision = Number(item.id);
          break;
        }
        assert.ok(revision > 0);
        const controller = new AbortController();
        const seen: string[] = [];
        const watching = (async () => {
          for await (
            const item of client.watchRuns({
              flow: flowName,
              lastEventId: String(revision - 1),
              signal: controller.signal,
            })
          ) {
            if (item.type === "summary") seen.push(`${item.summary.run_id} ${item.summary.status}`);
          }
        })().catch((e) => e);
        await poll(() => seen.includes(`${run_id} PENDING`), {
          message: "the replayed PENDING summary",
        });
        await client.cancelRun(run_id);
        await poll(() => seen.includes(`${run_id} CANCELLED`), {
          message: "the CANCELLED summary",
        });
        // Another flow's run is not reported.
        const other = await client.submitRun({ flowName: "hello", tag: "nobody_w" });
        await client.cancelRun(other.run_id);
        const marker = await client.submitRun({ flowName, tag: "nobody_w" });
        await poll(() => seen.includes(`${marker.run_id} PENDING`), { message: "a later summary" });
        controller.abort(new Error("done"));
        const ended = await watching;
        assert.equal((ended as Error).message, "done");
        assert.deepEqual(seen, [
          `${run_id} PENDING`,
          `${run_id} CANCELLED`,
          `${marker.run_id} PENDING`,
        ]);
      },
    );
  } catch (err) {
    console.error(stack.logs());
    throw err;
  }
});
