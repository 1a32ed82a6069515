/**
 * Snapshot compaction (SPEC §4.1): a run snapshot bigger than `PYOCO_MAX_RUN_SNAPSHOT_BYTES` is
 * shrunk — large `task_records` values first, then whole records — until it fits; `tasks`
 * always stays. Pure functions: every snapshot write of the worker passes through here.
 *
 * @module
 */

import type { RunSnapshot } from "../contract/wire.ts";
import type { JsonValue, TaskRecord } from "../flow/types.ts";

const _encoder = new TextEncoder();

/**
 * Size of a value as UTF-8 JSON, in bytes.
 *
 * @param value Any JSON-encodable value (`undefined` counts as `null`).
 * @returns The byte length of its JSON text.
 *
 * @example
 * ```ts
 * import { jsonBytes } from "./compact.ts";
 * import assert from "node:assert/strict";
 * assert.equal(jsonBytes({ a: "é" }), 10);
 * ```
 */
export function jsonBytes(value: unknown): number {
  return _encoder.encode(JSON.stringify(value) ?? "null").byteLength;
}

/** The outcome of {@linkcode compactSnapshot}. */
export interface CompactResult {
  /** The snapshot, compacted when it was too large (a new object; the input is not changed). */
  snapshot: RunSnapshot;
  /** Whether anything was removed. */
  truncated: boolean;
  /** Size before compaction, in bytes. */
  originalBytes: number;
  /** Size after compaction, in bytes (may still exceed the limit when even `tasks` is larger). */
  bytes: number;
  /** `snapshot` as UTF-8 JSON, ready to write (measuring the size encoded it already). */
  encoded: Uint8Array;
}

/** What a removed value is replaced with. */
function _placeholder(bytes: number): string {
  return `<truncated: ${bytes} bytes>`;
}

/** Fields of a task record that can be shrunk, large values first. */
const _RECORD_FIELDS = ["output", "inputs", "artifacts", "traceback", "error"] as const;
/** Values smaller than this are not worth replacing by a placeholder. */
const _MIN_SHRINK_BYTES = 64;

/** A value that can be replaced by a placeholder: its size, and what replacing it saves. */
interface _Candidate {
  size: number;
  shrink: () => number;
}

/** Every value of the records and outputs worth shrinking (not sorted). */
function _shrinkCandidates(
  records: Record<string, TaskRecord>,
  outputs: Record<string, JsonValue> | null | undefined,
): _Candidate[] {
  const candidates: _Candidate[] = [];
  for (const record of Object.values(records)) {
    for (const field of _RECORD_FIELDS) {
      const value = record[field];
      if (value === null || value === undefined) continue;
      const size = jsonBytes(value);
      if (size < _MIN_SHRINK_BYTES) continue;
      candidates.push({
        size,
        shrink: () => {
          if (field === "artifacts") {
            record.artifacts = {};
            return size - 2;
          }
          const text = _placeholder(size);
          (record as unknown as Record<string, JsonValue>)[field] = text;
          return size - jsonBytes(text);
        },
      });
    }
  }
  if (outputs) {
    for (const [name, value] of Object.entries(outputs)) {
      const size = jsonBytes(value);
      if (size < _MIN_SHRINK_BYTES) continue;
      candidates.push({
        size,
        shrink: () => {
          const text = _placeholder(size);
          outputs[name] = text;
          return size - jsonBytes(text);
        },
      });
    }
  }
  return candidates;
}

/**
 * Shrink a snapshot until its JSON fits in `maxBytes`: first the largest `output`, `inputs`,
 * `artifacts`, `traceback` and `error` values of `task_records` (and the matching `outputs`
 * values) are replaced by a `"<truncated: N bytes>"` placeholder, then whole task records are
 * dropped, largest first. `tasks` always stays. When anything was removed,
 * `task_records_truncated` is `true`. Pure: the input is not modified.
 *
 * @param snapshot The snapshot to write.
 * @param maxBytes The size limit in bytes.
 * @returns The (possibly) compacted snapshot and its sizes.
 *
 * @example A huge output is replaced
 * ```ts
 * import { compactSnapshot } from "./compact.ts";
 * import assert from "node:assert/strict";
 * const record = {
 *   state: "SUCCEEDED" as const, started_at: 1, ended_at: 2, duration_ms: 1000, attempts: 1,
 *   error: null, traceback: null, inputs: null, output: "x".repeat(10_000), artifacts: {},
 * };
 * const { snapshot, truncated } = compactSnapshot({
 *   run_id: "r", flow_name: "f", status: "COMPLETED", params: {}, tasks: { a: "SUCCEEDED" },
 *   heartbeat_at: 1, updated_at: 1, task_records: { a: record },
 * }, 4096);
 * assert.ok(truncated);
 * assert.equal(snapshot.task_records_truncated, true);
 * assert.equal(snapshot.tasks.a, "SUCCEEDED");
 * ```
 */
export function compactSnapshot(snapshot: RunSnapshot, maxBytes: number): CompactResult {
  const original = _encoder.encode(JSON.stringify(snapshot));
  const originalBytes = original.byteLength;
  if (originalBytes <= maxBytes) {
    return { snapshot, truncated: false, originalBytes, bytes: originalBytes, encoded: original };
  }
  const records: Record<string, TaskRecord> = {};
  for (const [name, record] of Object.entries(snapshot.task_records ?? {})) {
    records[name] = { ...record, artifacts: record.artifacts };
  }
  const outputs: Record<string, JsonValue> | null | undefined = snapshot.outputs
    ? { ...snapshot.outputs }
    : snapshot.outputs;
  const out: RunSnapshot = {
    ...snapshot,
    task_records: records,
    outputs,
    task_records_truncated: true,
  };
  let total = jsonBytes(out);

  // 1. Large values inside records and outputs, largest first.
  const candidates = _shrinkCandidates(records, outputs);
  candidates.sort((a, b) => b.size - a.size);
  for (const candidate of candidates) {
    if (total <= maxBytes) break;
    total -= candidate.shrink();
  }
  total = jsonBytes(out);

  // 2. Whole records, largest first.
  if (total > maxBytes) {
    const bySize = Object.entries(records)
      .map(([name, record]) => ({ name, size: jsonBytes(record) + jsonBytes(name) + 2 }))
      .sort((a, b) => b.size - a.size);
    for (const { name, size } of bySize) {
      if (total <= maxBytes) break;
      delete records[name];
      total -= size;
    }
  }
  const encoded = _encoder.encode(JSON.stringify(out));
  return { snapshot: out, truncated: true, originalBytes, bytes: encoded.byteLength, encoded };
}
