/**
 * Loading a flow.yaml: text → plain values, safe against hostile documents (deep nesting,
 * billion laughs, duplicate keys). The schema checks are in `_yaml_schema.ts`. Web APIs only.
 *
 * @module
 */

import { parseDocument } from "yaml";
import { WorkflowYamlError } from "./errors.ts";

/**
 * How many alias (`*name`) expansions a document may cause. Small on purpose: a flow.yaml has
 * no need for more, and it stops "billion laughs" documents before they expand.
 */
const _MAX_ALIAS_COUNT = 100;

/**
 * Deepest nesting of flow collections (`[` / `{`) accepted. The YAML parser's cost grows
 * steeply with depth, so a quick scan rejects deeper documents before parsing.
 */
const _MAX_FLOW_DEPTH = 64;

/**
 * Parse flow.yaml text into plain JavaScript values, with the defences a hostile document
 * needs: nesting depth, duplicate keys, alias expansion.
 *
 * @param text The document text.
 * @returns The document as plain values (not yet checked against the schema).
 * @throws {WorkflowYamlError} `syntax`, `duplicate_key` or `alias_limit`.
 * @throws {Error} Under Deno without env access to `LOG_TOKENS` and `LOG_STREAM`.
 */
export function loadWorkflowYaml(text: string): unknown {
  _checkFlowDepth(text);
  let doc;
  try {
    doc = parseDocument(text, {
      version: "1.2",
      schema: "core",
      uniqueKeys: true,
      strict: true,
      prettyErrors: true,
      logLevel: "error",
      merge: false,
    });
  } catch (err) {
    if (err instanceof Error && (err.name === "NotCapable" || err.name === "PermissionDenied")) {
      // Not the document's fault: under Deno, the yaml package's Node build reads the env
      // variables LOG_TOKENS and LOG_STREAM (debug switches) while parsing.
      throw new Error(
        "Cannot parse workflow YAML: the yaml package needs read access to the environment " +
          "variables LOG_TOKENS and LOG_STREAM; add them to --allow-env",
        { cause: err },
      );
    }
    // Pathological input (e.g. nesting deep enough to exhaust the stack).
    throw new WorkflowYamlError("syntax", `Cannot parse workflow YAML: ${_message(err)}`, {
      cause: err,
    });
  }
  const first = doc.errors[0];
  if (first !== undefined) {
    const at = first.linePos?.[0];
    const where = at ? ` at line ${at.line}, column ${at.col}` : "";
    if (first.code === "DUPLICATE_KEY") {
      const key = _keyAt(text, first.pos[0]);
      throw new WorkflowYamlError(
        "duplicate_key",
        `Cannot parse workflow YAML: duplicate key ${JSON.stringify(key)}${where}`,
        { cause: first },
      );
    }
    throw new WorkflowYamlError(
      "syntax",
      `Cannot parse workflow YAML: ${_oneLine(first.message)}`,
      {
        cause: first,
      },
    );
  }
  try {
    return doc.toJS({ maxAliasCount: _MAX_ALIAS_COUNT });
  } catch (err) {
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      const excessive = /excessive/i.test(err.message);
      throw new WorkflowYamlError(
        excessive ? "alias_limit" : "syntax",
        excessive
          ? `Cannot parse workflow YAML: aliases expand too much (limit ${_MAX_ALIAS_COUNT}), ` +
            `which indicates a resource exhaustion attack`
          : `Cannot parse workflow YAML: ${err.message}`,
        { cause: err },
      );
    }
    throw new WorkflowYamlError("syntax", `Cannot parse workflow YAML: ${_message(err)}`, {
      cause: err,
    });
  }
}

function _message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function _oneLine(message: string): string {
  // prettyErrors adds a source excerpt on following lines; keep the first line.
  return (message.split("\n")[0] ?? message).trim().replace(/[:.]$/, "");
}

/** The key text that starts at `offset` (up to the `:`), for duplicate-key messages. */
function _keyAt(text: string, offset: number): string {
  const rest = text.slice(offset, offset + 200);
  const key = rest.split(/:(?:\s|$)/)[0] ?? rest;
  return key.replace(/^["']|["']$/g, "").trim();
}

/**
 * Reject flow-collection nesting deeper than {@linkcode _MAX_FLOW_DEPTH} with a linear scan that
 * skips comments and quoted scalars. (Brackets inside plain or block scalars count too; only a
 * document with dozens of unbalanced ones could be rejected by mistake.)
 */
function _checkFlowDepth(text: string): void {
  let depth = 0;
  let line = 1;
  let prev = "\n";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\n") {
      line++;
    } else if (c === "#" && /\s/.test(prev)) {
      const end = text.indexOf("\n", i);
      if (end === -1) return;
      i = end - 1;
      continue;
    } else if ((c === '"' || c === "'") && /[\s[{,:\-?]/.test(prev)) {
      let j = i + 1;
      for (; j < text.length; j++) {
        const d = text[j]!;
        if (d === "\n") line++;
        if (c === '"' && d === "\\") j++;
        else if (d === c) {
          if (c === "'" && text[j + 1] === "'") j++;
          else break;
        }
      }
      i = j;
      prev = c;
      continue;
    } else if (c === "[" || c === "{") {
      if (++depth > _MAX_FLOW_DEPTH) {
        throw new WorkflowYamlError(
          "syntax",
          `Cannot parse workflow YAML: collections nested deeper than ${_MAX_FLOW_DEPTH} ` +
            `levels at line ${line}`,
        );
      }
    } else if ((c === "]" || c === "}") && depth > 0) {
      depth--;
    }
    prev = c;
  }
}
