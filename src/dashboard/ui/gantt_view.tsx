/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The run's timeline (Gantt) as HTML: a row per task with a bar from its start to its end,
 * coloured by state, on a time axis that starts at the first task's start. Bars are buttons that
 * select the task, like the boxes of the graph.
 *
 * @module
 */

import type { GanttLayout } from "./gantt.ts";
import { duration } from "./format.ts";

/** Props of {@linkcode GanttView}. */
export interface GanttViewProps {
  /** The laid-out timeline. */
  layout: GanttLayout;
  /** The selected task. */
  selected: string | null;
  /** Called when a task is chosen. */
  onSelect: (name: string) => void;
}

/**
 * Draw the timeline.
 *
 * @param props Layout and selection.
 * @returns The timeline, or a note when no task has started.
 */
export function GanttView(props: GanttViewProps) {
  const { layout } = props;
  if (layout.origin === null) {
    return <p class="empty">No task has started yet: the timeline fills in as they run.</p>;
  }
  const pct = (f: number) => `${(f * 100).toFixed(3)}%`;
  return (
    <div class="gantt" role="list" aria-label="Task timeline">
      <div class="gantt-axis" aria-hidden="true">
        <span class="gantt-label" />
        <div class="gantt-track">
          {layout.ticks.map((t) => (
            <span key={t.sec} class="gantt-tick" style={{ left: pct(t.at) }}>
              {duration(t.sec * 1000)}
            </span>
          ))}
        </div>
      </div>
      {layout.rows.map((r) => {
        const what = r.reused
          ? "output reused from the retried run"
          : r.left === null
          ? "not started"
          : `started at +${duration(r.offsetSec! * 1000)}, ${r.open ? "running for" : "took"} ${
            duration(r.durationSec! * 1000)
          }`;
        return (
          <div
            key={r.name}
            class={`gantt-row ${props.selected === r.name ? "selected" : ""}`}
            role="listitem"
          >
            <span class="gantt-label mono" title={r.name}>{r.name}</span>
            <div class="gantt-track">
              {layout.ticks.map((t) => (
                <span key={t.sec} class="gantt-grid" style={{ left: pct(t.at) }} />
              ))}
              {r.left !== null && (
                <button
                  type="button"
                  class={`gantt-bar gantt-${r.state.toLowerCase()} ${r.open ? "gantt-open" : ""} ${
                    r.reused ? "gantt-reused" : ""
                  }`}
                  style={{ left: pct(r.left), width: pct(r.width!) }}
                  data-gantt-task={r.name}
                  data-state={r.state}
                  data-duration-sec={r.durationSec!.toFixed(3)}
                  aria-label={`Task ${r.name}: ${r.state.toLowerCase()}, ${what}`}
                  title={`${r.name}: ${what}`}
                  onClick={() => props.onSelect(r.name)}
                />
              )}
              <span
                class="gantt-note"
                style={{ left: r.left === null ? "0" : pct(Math.min(r.left + r.width!, 1)) }}
              >
                {r.reused
                  ? "reused"
                  : r.left === null
                  ? "not started"
                  : duration(r.durationSec! * 1000)}
              </span>
            </div>
          </div>
        );
      })}
    </div>
  );
}
