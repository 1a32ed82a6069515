/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The run's task graph as SVG: one box per task coloured by its state, arrows for
 * dependencies (dashed for OR-joins). Boxes are buttons: click, Enter or Space selects a task.
 *
 * @module
 */

import { useEffect, useRef, useState } from "preact/hooks";
import type { TaskRecord } from "../../flow/types.ts";
import { DAG_GEOMETRY, type DagLayout, fitDag } from "./dag.ts";
import { duration } from "./format.ts";

/** Props of {@linkcode DagView}. */
export interface DagViewProps {
  /** The laid-out graph. */
  layout: DagLayout;
  /** Task name → state. */
  states: Record<string, string>;
  /** Task name → record (for durations). */
  records: Record<string, TaskRecord>;
  /** The selected task. */
  selected: string | null;
  /** Called when a task is chosen. */
  onSelect: (name: string) => void;
  /** Drawing scale (1: the layout's own size). */
  scale?: number;
}

/**
 * The graph in a frame as wide as its panel: shrunk to fit when it can stay readable, otherwise
 * in a horizontal scroller with a visible hint and edge shadows, so a wide graph is never cut off
 * without a sign. The frame carries `data-scale` and `data-overflow` for the browser tests.
 *
 * @param props As {@linkcode DagView}, without `scale`.
 * @returns The framed graph.
 */
export function DagFrame(props: Omit<DagViewProps, "scale">) {
  const ref = useRef<HTMLDivElement>(null);
  const [box, setBox] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setBox(el.clientWidth);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const { scale, overflow } = fitDag(props.layout.width, box);
  return (
    <>
      <div
        ref={ref}
        class={`dag-wrap ${overflow ? "dag-scroll" : ""}`}
        data-scale={scale.toFixed(3)}
        data-overflow={overflow ? "true" : "false"}
        tabIndex={overflow ? 0 : undefined}
        aria-label={overflow ? "Task graph, scrolls sideways" : undefined}
      >
        <DagView {...props} scale={scale} />
      </div>
      {overflow && (
        <p class="hint dag-scroll-hint">
          This graph is wider than the panel: scroll sideways (or Shift + wheel) to see all of it.
        </p>
      )}
      {!overflow && scale < 1 && (
        <p class="hint">Shown at {Math.round(scale * 100)}% to fit the panel.</p>
      )}
    </>
  );
}

/**
 * Draw the graph.
 *
 * @param props Layout, states, records, selection.
 * @returns The SVG.
 */
export function DagView(props: DagViewProps) {
  const { layout } = props;
  const { nodeWidth: w, nodeHeight: h } = DAG_GEOMETRY;
  const pos = new Map(layout.nodes.map((n) => [n.name, n]));
  return (
    <svg
      class="dag"
      viewBox={`0 0 ${layout.width} ${layout.height}`}
      width={Math.round(layout.width * (props.scale ?? 1))}
      height={Math.round(layout.height * (props.scale ?? 1))}
      role="group"
      aria-label="Task graph"
    >
      <defs>
        <marker
          id="arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto-start-reverse"
        >
          <path d="M0 0 10 5 0 10z" class="dag-arrow" />
        </marker>
      </defs>
      {layout.edges.map((e) => {
        const a = pos.get(e.from);
        const b = pos.get(e.to);
        if (!a || !b) return null;
        const x1 = a.x + w;
        const y1 = a.y + h / 2;
        const x2 = b.x - 2;
        const y2 = b.y + h / 2;
        const mx = (x1 + x2) / 2;
        return (
          <path
            key={`${e.from}->${e.to}`}
            class={`dag-edge dag-edge-${e.kind} dag-edge-${
              (props.states[e.from] ?? "").toLowerCase()
            }`}
            d={`M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2} ${y2}`}
            marker-end="url(#arrow)"
          />
        );
      })}
      {layout.nodes.map((n) => {
        const state = props.states[n.name] ?? "PENDING";
        const rec = props.records[n.name];
        const label = n.name.length > 20 ? `${n.name.slice(0, 19)}…` : n.name;
        const extra = rec?.reused
          ? "reused"
          : rec?.duration_ms != null
          ? duration(rec.duration_ms)
          : rec?.attempts && rec.attempts > 1
          ? `attempt ${rec.attempts}`
          : "";
        const choose = () => props.onSelect(n.name);
        return (
          <g
            key={n.name}
            class={`dag-node dag-${state.toLowerCase()} ${
              props.selected === n.name ? "selected" : ""
            }`}
            transform={`translate(${n.x} ${n.y})`}
            tabindex={0}
            role="button"
            aria-pressed={props.selected === n.name}
            aria-label={`Task ${n.name}: ${state}${extra ? `, ${extra}` : ""}`}
            data-task={n.name}
            data-state={state}
            onClick={choose}
            onKeyDown={(e) => {
              if (e.key === "Enter" || e.key === " ") {
                e.preventDefault();
                choose();
              }
            }}
          >
            <title>{n.name}</title>
            <rect width={w} height={h} rx="8" />
            <circle cx="14" cy={h / 2} r="5" class="dag-dot" />
            <text x="28" y="20" class="dag-name">{label}</text>
            <text x="28" y="37" class="dag-state">
              {state.toLowerCase()}
              {extra ? ` · ${extra}` : ""}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
