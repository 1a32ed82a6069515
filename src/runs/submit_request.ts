/**
 * What a submit may contain: strict validation of a `POST /runs` body and a `POST /runs/yaml`
 * form, before anything is written (`submit.ts` writes). Shared by submit, batch, idempotent
 * submit, DLQ replay and retry.
 *
 * Decisions (also in `docs/`):
 * - Unknown top-level fields are rejected (422 naming the field): typos must not pass silently.
 * - `flow_name`: 1–256 characters of letters, digits, `_`, `.`, `-`, not starting with `.`/`-`.
 * - `params`: a JSON object nested at most `MAX_JSON_DEPTH` (64) levels deep, whose encoding is
 *   at most half of `PYOCO_MAX_RUN_SNAPSHOT_BYTES`, so the snapshot can always hold them next to
 *   the task records. The depth is checked first, without recursion, so nothing downstream
 *   (encoding, hashing, the worker's selectors) ever walks a deeper value.
 * - `tag`/`tags`: every tag matches `TAG_PATTERN` (never `.`, `*`, `>`); `tags` is a non-empty
 *   array of at most 32 unique tags that includes `tag` when both are given. Only `tags` given →
 *   `tag = PYOCO_DEFAULT_TAG` and `tags` kept as given (metadata; pyoco-server 0.4 routes so, §16);
 *   only `tag` given → `tags = [tag]`; neither → `PYOCO_DEFAULT_TAG`.
 * - flow.yaml `params` form field (SPEC §15): a JSON object text, checked like `params` above,
 *   that overlays `flow.defaults` (shallow, like the engine); the merged object is the run's
 *   `params`. Absent → the run's params are `flow.defaults` (pyoco-server 0.4).
 *
 * @module
 */

import type { Config } from "../config.ts";
import { yamlCallables } from "../contract/catalog.ts";
import { ErrId } from "../contract/errors.ts";
import { jsonDepthError } from "../contract/limits.ts";
import { DEFAULT_PRIORITY, isPriority, type Priority } from "../contract/tenancy.ts";
import { TAG_PATTERN } from "../contract/wire.ts";
import { WorkflowYamlError } from "../flow/errors.ts";
import { type ParsedWorkflowYaml, parseWorkflowYaml } from "../flow/yaml.ts";
import { encodeJson } from "../nats/kv.ts";
import { type FieldError, InvalidRequestError, TooLargeError } from "./errors.ts";

/** Flow names: letters, digits, `_`, `.`, `-`; 1–256 characters; no leading `.` or `-`. */
export const FLOW_NAME_PATTERN: RegExp = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,255}$/;

/** At most this many tags on one run. */
export const MAX_TAGS = 32;

/** A validated submit request. */
export interface RunRequest {
  /** Flow to run. */
  flow_name: string;
  /** Run params (`{}` when none were given). */
  params: Record<string, unknown>;
  /** Tag whose queue gets the job. */
  tag: string;
  /** Every tag of the run (includes `tag`). */
  tags: string[];
  /** How urgent the run is (SPEC §13). @default {"normal"} */
  priority?: Priority;
}

/** The flow.yaml part of a `POST /runs/yaml` submit. */
export interface YamlSubmission {
  /** The YAML text (travels in the job only). */
  text: string;
  /** SHA-256 of the bytes, hex. */
  sha256: string;
  /** Size in bytes. */
  bytes: number;
  /**
   * The registered tasks it needs (`yamlCallables()`), for the catalog check of SPEC §12; not
   * checked when absent.
   */
  callables?: string[];
  /**
   * The `params` form field as given (SPEC §15), overlaid on `flow.defaults` into the request's
   * params; absent when the form had none. Part of the Idempotency-Key body hash.
   */
  paramsOverlay?: Record<string, unknown>;
}

const _RUN_FIELDS = new Set(["flow_name", "params", "tag", "tags", "priority"]);
const _YAML_FIELDS = new Set(["workflow", "flow_name", "tag", "params", "priority"]);

function _isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function _describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" || typeof v === "undefined" ? `an ${typeof v}` : `a ${typeof v}`;
}

function _checkFlowName(value: unknown, errors: FieldError[]): string {
  if (value === undefined) {
    errors.push({ path: "flow_name", message: "is required" });
  } else if (typeof value !== "string") {
    errors.push({ path: "flow_name", message: `must be a string, got ${_describe(value)}` });
  } else if (!FLOW_NAME_PATTERN.test(value)) {
    errors.push({
      path: "flow_name",
      message: value === ""
        ? "must not be empty"
        : "must be 1 to 256 letters, digits, _, . or - (not starting with . or -)",
    });
  } else {
    return value;
  }
  return "";
}

function _checkTag(value: unknown, path: string, errors: FieldError[]): string | null {
  if (typeof value !== "string") {
    errors.push({ path, message: `must be a string, got ${_describe(value)}` });
    return null;
  }
  if (!TAG_PATTERN.test(value)) {
    errors.push({
      path,
      message: `${JSON.stringify(value)} is not a valid tag: use 1 to 64 letters, digits, _ or - ` +
        "(never ., * or >)",
    });
    return null;
  }
  return value;
}

function _checkParams(
  value: unknown,
  config: Config,
  errors: FieldError[],
): Record<string, unknown> {
  if (value === undefined) return {};
  if (!_isPlainObject(value)) {
    errors.push({ path: "params", message: `must be an object, got ${_describe(value)}` });
    return {};
  }
  const tooDeep = jsonDepthError(value, { path: "params" });
  if (tooDeep !== null) {
    errors.push({ path: "params", message: tooDeep });
    return {};
  }
  const limit = Math.floor(config.maxRunSnapshotBytes / 2);
  const size = encodeJson(value).byteLength;
  if (size > limit) {
    errors.push({
      path: "params",
      message: `is ${size} bytes as JSON; at most ${limit} bytes are allowed ` +
        "(half of PYOCO_MAX_RUN_SNAPSHOT_BYTES)",
    });
  }
  return value;
}

function _resolveTags(
  tagValue: unknown,
  tagsValue: unknown,
  config: Config,
  errors: FieldError[],
): { tag: string; tags: string[] } {
  const tag = tagValue === undefined ? undefined : _checkTag(tagValue, "tag", errors);
  if (tagsValue === undefined) {
    const t = tag ?? config.defaultTag;
    return { tag: t, tags: [t] };
  }
  if (!Array.isArray(tagsValue)) {
    errors.push({ path: "tags", message: `must be an array of tags, got ${_describe(tagsValue)}` });
    return { tag: tag ?? config.defaultTag, tags: [] };
  }
  if (tagsValue.length === 0) errors.push({ path: "tags", message: "must not be empty" });
  if (tagsValue.length > MAX_TAGS) {
    errors.push({ path: "tags", message: `must hold at most ${MAX_TAGS} tags` });
  }
  const tags: string[] = [];
  tagsValue.forEach((v, i) => {
    const t = _checkTag(v, `tags[${i}]`, errors);
    if (t === null) return;
    if (tags.includes(t)) {
      errors.push({ path: `tags[${i}]`, message: `duplicate tag ${JSON.stringify(t)}` });
    } else {
      tags.push(t);
    }
  });
  // pyoco-server 0.4 (SPEC §16): the queue is `tag`, else PYOCO_DEFAULT_TAG; `tags` is metadata.
  const chosen = tag ?? config.defaultTag;
  if (tag !== undefined && tag !== null && tags.length > 0 && !tags.includes(tag)) {
    errors.push({ path: "tags", message: `must include the tag ${JSON.stringify(tag)}` });
  }
  return { tag: chosen, tags };
}

/**
 * Validate a `POST /runs` JSON body.
 *
 * @param body The parsed JSON.
 * @param config The configuration (default tag, snapshot cap).
 * @returns The validated request.
 * @throws {InvalidRequestError} ERR-PYOCO-0002 listing every problem.
 */
export function validateRunRequest(body: unknown, config: Config): RunRequest {
  if (!_isPlainObject(body)) {
    throw new InvalidRequestError([{
      path: "body",
      message: `must be a JSON object, got ${_describe(body)}`,
    }]);
  }
  const errors: FieldError[] = [];
  for (const key of Object.keys(body)) {
    if (!_RUN_FIELDS.has(key)) {
      errors.push({
        path: key,
        message: "unknown field (allowed: flow_name, params, tag, tags, priority)",
      });
    }
  }
  const flowName = _checkFlowName(body.flow_name, errors);
  const params = _checkParams(body.params, config, errors);
  const { tag, tags } = _resolveTags(body.tag, body.tags, config, errors);
  const priority = _checkPriority(body.priority, errors);
  if (errors.length > 0) throw new InvalidRequestError(errors);
  return { flow_name: flowName, params, tag, tags, ...priority };
}

/**
 * `priority` (SPEC §13): `{}` for none or `normal` — only a non-default priority is written, so
 * a normal run's bytes stay pyoco-server 0.4's — else `{priority}`; problems are appended.
 */
function _checkPriority(value: unknown, errors: FieldError[]): { priority?: Priority } {
  if (value === undefined || value === null || value === DEFAULT_PRIORITY) return {};
  if (isPriority(value)) return { priority: value };
  errors.push({
    path: "priority",
    message: `must be "high", "normal" or "low", got ${_describe(value)}`,
  });
  return {};
}

function _yamlTooLarge(size: number, config: Config): TooLargeError {
  return new TooLargeError(
    `Workflow YAML too large: ${size} bytes; the limit is ${config.workflowYamlMaxBytes} bytes ` +
      "(PYOCO_WORKFLOW_YAML_MAX_BYTES)",
    ErrId.workflowYamlTooLarge,
  );
}

/**
 * The `params` form field of `POST /runs/yaml`: JSON object text, checked like `params` of
 * `POST /runs` (depth first, then size); `undefined` when absent.
 */
function _formParams(
  value: FormDataEntryValue | null,
  config: Config,
): Record<string, unknown> | undefined {
  if (value === null) return undefined;
  const fail = (message: string) => new InvalidRequestError([{ path: "params", message }]);
  if (typeof value !== "string") throw fail("must be a form field with JSON text, not a file");
  const limit = Math.floor(config.maxRunSnapshotBytes / 2);
  const size = new TextEncoder().encode(value).byteLength;
  if (size > limit) {
    throw fail(
      `is ${size} bytes; at most ${limit} bytes are allowed (half of PYOCO_MAX_RUN_SNAPSHOT_BYTES)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw fail(`is not valid JSON: ${(err as Error).message}`);
  }
  const errors: FieldError[] = [];
  const params = _checkParams(parsed, config, errors);
  if (errors.length > 0) throw new InvalidRequestError(errors);
  return params;
}

/**
 * Validate a `POST /runs/yaml` form (`workflow` file, `flow_name`, `tag?`, `params?`,
 * `priority?`) and parse the flow.yaml. Params of a YAML run are its `flow.defaults`, overlaid by the `params` field
 * (a JSON object) when given.
 *
 * @param form The multipart form.
 * @param config The configuration (YAML cap, default tag).
 * @returns The validated request and the YAML to put in the job.
 * @throws {TooLargeError} ERR-PYOCO-0016 when the YAML is larger than
 *   `PYOCO_WORKFLOW_YAML_MAX_BYTES`; {@linkcode InvalidRequestError} for a missing/unknown field or an
 *   invalid flow.yaml (`errors[].path` is `workflow.<key path>`).
 */
export async function validateYamlRequest(
  form: FormData,
  config: Config,
): Promise<{ request: RunRequest; yaml: YamlSubmission }> {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  for (const [key] of form.entries()) {
    if (!_YAML_FIELDS.has(key)) {
      if (!seen.has(key)) {
        errors.push({
          path: key,
          message: "unknown field (allowed: workflow, flow_name, tag, params, priority)",
        });
      }
    } else if (seen.has(key)) {
      errors.push({ path: key, message: "given more than once" });
    }
    seen.add(key);
  }
  const workflow = form.get("workflow");
  let bytes: Uint8Array | null = null;
  if (workflow === null) {
    errors.push({ path: "workflow", message: "is required (the flow.yaml file)" });
  } else if (typeof workflow === "string") {
    bytes = new TextEncoder().encode(workflow);
  } else {
    if (workflow.size > config.workflowYamlMaxBytes) throw _yamlTooLarge(workflow.size, config);
    bytes = new Uint8Array(await workflow.arrayBuffer());
  }
  if (bytes !== null && bytes.byteLength > config.workflowYamlMaxBytes) {
    throw _yamlTooLarge(bytes.byteLength, config);
  }
  const flowNameValue = form.get("flow_name");
  const flowName = _checkFlowName(
    flowNameValue === null ? undefined : typeof flowNameValue === "string" ? flowNameValue : {},
    errors,
  );
  const tagValue = form.get("tag");
  let tag = config.defaultTag;
  if (tagValue !== null) {
    tag = _checkTag(typeof tagValue === "string" ? tagValue : {}, "tag", errors) ?? tag;
  }
  const priority = _checkPriority(form.get("priority") ?? undefined, errors);
  if (errors.length > 0 || bytes === null) throw new InvalidRequestError(errors);
  let parsed: ParsedWorkflowYaml;
  try {
    parsed = await parseWorkflowYaml(bytes, { maxBytes: config.workflowYamlMaxBytes });
  } catch (err) {
    if (err instanceof WorkflowYamlError) {
      const e = err;
      if (e.reason === "too_large") throw _yamlTooLarge(bytes.byteLength, config);
      throw new InvalidRequestError(
        [{ path: e.path ? `workflow.${e.path}` : "workflow", message: e.message }],
        `Invalid workflow YAML: ${e.message}`,
      );
    }
    throw err;
  }
  const defaults = _checkParams(parsed.config.flow.defaults ?? {}, config, errors);
  if (errors.length > 0) {
    throw new InvalidRequestError(errors.map((e) => ({ ...e, path: "workflow.flow.defaults" })));
  }
  const overlay = _formParams(form.get("params"), config);
  const params = overlay === undefined ? defaults : { ...defaults, ...overlay };
  if (overlay !== undefined) _checkParams(params, config, errors);
  if (errors.length > 0) throw new InvalidRequestError(errors);
  return {
    request: { flow_name: flowName, params, tag, tags: [tag], ...priority },
    yaml: {
      text: new TextDecoder().decode(bytes),
      sha256: parsed.sha256,
      bytes: parsed.size_bytes,
      callables: yamlCallables(parsed.config),
      ...(overlay !== undefined ? { paramsOverlay: overlay } : {}),
    },
  };
}
