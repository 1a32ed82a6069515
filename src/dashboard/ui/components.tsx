/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Shared pieces of the pages: status chips, priority badges, error banners, the copy button, the live
 * indicator, JSON blocks and the API-key dialog.
 *
 * @module
 */

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { API_KEY_HEADER, ApiError, apiKey, explain, setApiKey } from "./api.ts";
import { namedPriority, pretty } from "./format.ts";
import type { StreamState } from "./sse.ts";

/**
 * A coloured status label (run, task, worker or DLQ reason).
 *
 * @param props `status` text.
 * @returns The chip.
 */
export function Chip(props: { status: string | null | undefined; title?: string }) {
  const s = props.status ?? "UNKNOWN";
  return (
    <span class={`chip chip-${s.toLowerCase()}`} data-status={s} title={props.title}>
      {s.replace(/_/g, " ")}
    </span>
  );
}

/**
 * A run's or a schedule's priority (SPEC §13) as a small badge, only when it is not `normal`: a
 * normal run names no priority (its snapshot has none), so it shows nothing.
 *
 * @param props `priority` as the snapshot or schedule carries it (absent: `normal`).
 * @returns The badge, or nothing.
 */
export function PriorityBadge(props: { priority: string | null | undefined }) {
  const p = namedPriority(props.priority);
  if (p === null) return null;
  return (
    <span
      class={`badge badge-priority badge-priority-${p}`}
      data-priority={p}
      title={p === "high"
        ? "High priority: taken before normal and low runs of its queue"
        : "Low priority: taken after high and normal runs of its queue"}
    >
      {p} <span class="sr-only">priority</span>
    </span>
  );
}

/**
 * A message box for errors (with the gateway's err_id) or notices.
 *
 * @param props The error or text, and the kind.
 * @returns The banner, or nothing.
 */
export function Banner(
  props: { error?: unknown; kind?: "error" | "info" | "ok"; children?: ComponentChildren },
) {
  if (props.error === undefined && props.children === undefined) return null;
  if (props.error === null) return null;
  const kind = props.kind ?? (props.error !== undefined ? "error" : "info");
  const errId = props.error instanceof ApiError ? props.error.errId : null;
  return (
    <div class={`banner banner-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {props.error !== undefined && <span>{explain(props.error)}</span>}
      {props.children}
      {errId && <code class="err-id">{errId}</code>}
    </div>
  );
}

/**
 * A button that copies text to the clipboard and says so.
 *
 * @param props The text and the label.
 * @returns The button.
 */
export function CopyButton(props: { text: string; label?: string }) {
  const [done, setDone] = useState<"" | "ok" | "fail">("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setDone("ok");
    } catch {
      setDone("fail");
    }
    setTimeout(() => setDone(""), 1500);
  };
  return (
    <button type="button" class="btn btn-small" onClick={copy}>
      {done === "ok" ? "Copied" : done === "fail" ? "Select and copy" : props.label ?? "Copy"}
    </button>
  );
}

/**
 * The live indicator of a stream.
 *
 * @param props The stream state.
 * @returns The dot and its label.
 */
export function LiveDot(props: { state: StreamState }) {
  const label = {
    connecting: "Connecting…",
    live: "Live",
    retrying: "Reconnecting…",
    closed: "Stream ended",
    failed: "Not live",
  }[props.state];
  return (
    <span class={`live live-${props.state}`} role="status" aria-live="polite">
      <span class="live-dot" aria-hidden="true" />
      {label}
    </span>
  );
}

/**
 * Indented JSON in a scrollable block.
 *
 * @param props The value and a label for screen readers.
 * @returns The block.
 */
export function Json(props: { value: unknown; label: string }) {
  return (
    <pre class="json" tabIndex={0} aria-label={props.label}>
      {pretty(props.value)}
    </pre>
  );
}

/**
 * A titled panel.
 *
 * @param props Title, optional actions, content.
 * @returns The section.
 */
export function Panel(props: {
  title: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
  class?: string;
}) {
  const id = `panel-${props.title.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    <section class={`panel ${props.class ?? ""}`} aria-labelledby={id}>
      <header class="panel-head">
        <h2 id={id}>{props.title}</h2>
        {props.actions && <div class="panel-actions">{props.actions}</div>}
      </header>
      <div class="panel-body">{props.children}</div>
    </section>
  );
}

/**
 * The API-key dialog: explains a 401/403, stores the key in session storage.
 *
 * @param props Why it is open, and how to close it.
 * @returns The modal dialog.
 */
export function KeyDialog(props: { problem: ApiError | null; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [value, setValue] = useState(apiKey() ?? "");
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  const save = (e: Event) => {
    e.preventDefault();
    setApiKey(value);
    props.onClose();
  };
  const forget = () => {
    setApiKey(null);
    setValue("");
    props.onClose();
  };
  const p = props.problem;
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="key-title" onClose={props.onClose}>
      <form onSubmit={save}>
        <h2 id="key-title">API key</h2>
        {p?.status === 401 && (
          <p class="banner banner-error" role="alert">
            This gateway requires an API key (401,{" "}
            <code>{p.errId}</code>). Ask an operator for one (<code>
              deno task admin -- api-key create --tenant …
            </code>).
          </p>
        )}
        {p?.status === 403 && (
          <p class="banner banner-error" role="alert">
            The key was refused (403, <code>{p.errId}</code>): it is malformed, unknown or revoked.
          </p>
        )}
        <label for="api-key">Key</label>
        <input
          id="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          placeholder="pyoco_…"
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        />
        <p class="hint">
          Kept in this tab's session storage and sent as the <code>{API_KEY_HEADER}</code> header.
        </p>
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={forget}>Forget key</button>
          <button type="button" class="btn" onClick={props.onClose}>Cancel</button>
          <button type="submit" class="btn btn-primary">Save key</button>
        </div>
      </form>
    </dialog>
  );
}

/**
 * A run-id link to the run page.
 *
 * @param props The run id.
 * @returns The link.
 */
export function RunLink(props: { id: string | null | undefined; full?: boolean }) {
  if (!props.id) return <span class="muted">—</span>;
  return (
    <a class="mono" href={`#/runs/${encodeURIComponent(props.id)}`} title={props.id}>
      {props.full || props.id.length <= 10 ? props.id : props.id.slice(0, 8)}
    </a>
  );
}
