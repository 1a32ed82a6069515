/**
 * Query and header builders of the client's methods (run filters, list and watch queries, `Last-Event-ID`
 * checks, `Idempotency-Key`). Web APIs only.
 *
 * @module
 */

import type {
  ListRunsOptions,
  ListRunsPageOptions,
  RunFilterOptions,
  WatchRunOptions,
} from "./types.ts";

/**
 * The query of the run filters (`status` repeatable, `flow`, `tag`).
 *
 * @param options The filters.
 * @returns The query.
 */
export function filterQuery(options: RunFilterOptions): URLSearchParams {
  const query = new URLSearchParams();
  const statuses = options.status === undefined
    ? []
    : Array.isArray(options.status)
    ? options.status
    : [options.status];
  for (const status of statuses) query.append("status", status);
  if (options.flow !== undefined) query.set("flow", options.flow);
  if (options.tag !== undefined) query.set("tag", options.tag);
  return query;
}

/**
 * Check a `lastEventId` option.
 *
 * @param owner The method, for the message.
 * @param value The option.
 * @throws {TypeError} When it is not an id a stream could have sent.
 */
export function checkLastEventId(owner: string, value: string | undefined): void {
  if (value === undefined) return;
  if (typeof value !== "string" || !/^[\x21-\x7e]{1,100}$/.test(value)) {
    throw new TypeError(
      `Invalid ${owner} option "lastEventId": expected an id the stream sent, got ${
        JSON.stringify(value)
      }`,
    );
  }
}

/**
 * The `Idempotency-Key` header, when a key is given.
 *
 * @param key The key.
 * @returns The headers.
 * @throws {TypeError} When the key is not a non-empty string.
 */
export function idempotencyHeader(key: string | undefined): Record<string, string> {
  if (key === undefined) return {};
  if (typeof key !== "string" || key === "") {
    throw new TypeError("Invalid idempotencyKey: expected a non-empty string");
  }
  return { "idempotency-key": key };
}

/**
 * The query of `GET /runs` (a plain list).
 *
 * @param options Filters, `limit`, `full`.
 * @returns The query.
 */
export function listQuery(options: ListRunsOptions): URLSearchParams {
  const query = new URLSearchParams();
  if (options.status !== undefined) query.set("status", options.status);
  if (options.flow !== undefined) query.set("flow", options.flow);
  if (options.tag !== undefined) query.set("tag", options.tag);
  if (options.limit !== undefined) query.set("limit", String(options.limit));
  if (options.full) query.set("include", "full");
  return query;
}

/**
 * The query of a `GET /runs` delta page: a cursor, or `updated_after` (default 0).
 *
 * @param options Cursor or `updatedAfter`, filters, `limit`, `full`.
 * @returns The query.
 * @throws {TypeError} When the cursor is empty or `updatedAfter` is not unix seconds ≥ 0.
 */
export function pageQuery(options: ListRunsPageOptions): URLSearchParams {
  const query = filterQuery(options);
  if (options.cursor !== undefined) {
    if (typeof options.cursor !== "string" || options.cursor === "") {
      throw new TypeError('Invalid listRunsPage option "cursor": expected a non-empty string');
    }
    query.set("cursor", options.cursor);
  } else {
    const after = options.updatedAfter ?? 0;
    if (typeof after !== "number" || !Number.isFinite(after) || after < 0) {
      throw new TypeError(
        `Invalid listRunsPage option "updatedAfter": expected unix seconds ≥ 0, got ${
          String(after)
        }`,
      );
    }
    query.set("updated_after", String(after));
  }
  if (options.limit !== undefined) query.set("limit", String(options.limit));
  if (options.full) query.set("include", "full");
  return query;
}

/**
 * The query of `GET /runs/{id}/watch`.
 *
 * @param options `include`, `events`, `afterSeq`.
 * @returns The query.
 * @throws {TypeError} When `afterSeq` is not an integer ≥ 0.
 */
export function watchQuery(options: WatchRunOptions): URLSearchParams {
  const query = new URLSearchParams();
  for (const inc of options.include ?? []) query.append("include", inc);
  if (options.events) query.set("events", "1");
  if (options.afterSeq !== undefined) {
    if (!Number.isSafeInteger(options.afterSeq) || options.afterSeq < 0) {
      throw new TypeError(
        `Invalid watchRun option "afterSeq": expected an integer ≥ 0, got ${options.afterSeq}`,
      );
    }
    query.set("after_seq", String(options.afterSeq));
  }
  return query;
}

/**
 * The multipart form of a flow.yaml upload (`POST /runs/yaml`, `POST /schedules/yaml`): the
 * `workflow` file and `flow_name`; the caller appends its other fields.
 *
 * @param workflowYaml The YAML text, bytes or file.
 * @param flowName The flow's name.
 * @returns The form.
 */
export function workflowForm(workflowYaml: string | Uint8Array | Blob, flowName: string): FormData {
  const blob = workflowYaml instanceof Blob
    ? workflowYaml
    : new Blob([workflowYaml as BlobPart], { type: "application/yaml" });
  const form = new FormData();
  form.append("workflow", blob, "flow.yaml");
  form.append("flow_name", flowName);
  return form;
}
