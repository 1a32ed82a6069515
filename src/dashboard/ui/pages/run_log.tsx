/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The run page's log panel: `ctx.log` lines and the run's lifecycle events as one list, each
 * event in words.
 *
 * @module
 */

import { useEffect, useRef } from "preact/hooks";
import type { RunEvent } from "../api.ts";
import { clock } from "../format.ts";

/**
 * The run's log: task log lines and lifecycle events in order, kept scrolled to the newest line
 * unless the reader scrolled up.
 *
 * @param props The events.
 * @returns The log.
 */
export function RunLog(props: { events: RunEvent[] }) {
  const ref = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  useEffect(() => {
    const el = ref.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [props.events.length]);
  if (props.events.length === 0) {
    return <p class="empty">No events yet.</p>;
  }
  return (
    <ol
      class="log"
      ref={ref}
      tabIndex={0}
      aria-label="Run log"
      aria-live="polite"
      aria-relevant="additions"
      onScroll={(e) => {
        const el = e.currentTarget as HTMLOListElement;
        stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
      }}
    >
      {props.events.map((e) => (
        <li key={e.seq} class={`log-${e.type.replace(/\W/g, "-")}`} data-seq={e.seq}>
          <time class="log-ts">{e.ts ? clock(e.ts).slice(11) : ""}</time>
          <span class="log-src">{e.task ?? "run"}</span>
          <span class="log-msg">{_describe(e)}</span>
        </li>
      ))}
    </ol>
  );
}

function _describe(e: RunEvent): string {
  switch (e.type) {
    case "task.log":
      return String(e.message ?? "");
    case "task.started":
      return `started (attempt ${e.attempt ?? 1})`;
    case "task.succeeded":
      return "succeeded";
    case "task.failed":
      return `failed: ${e.error ?? ""}`;
    case "task.retrying":
      return `retrying in ${e.delay_sec ?? "?"} s: ${e.error ?? ""}`;
    case "run.started":
      return "run started";
    case "run.completed":
      return "run completed";
    case "run.failed":
      return `run failed: ${e.error ?? ""}`;
    case "run.cancelled":
      return `run cancelled${e.error ? `: ${e.error}` : ""}`;
    default:
      return e.type;
  }
}
