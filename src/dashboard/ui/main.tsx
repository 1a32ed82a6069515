/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard's entry point: the header navigation, the API-key dialog, and the hash router
 * over the pages (`#/`, `#/runs`, `#/runs/<id>`, `#/schedules`, `#/workers`, `#/dlq`, `#/submit`).
 *
 * @module
 */

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { KeyDialog } from "./components.tsx";
import { useAuth, useRoute } from "./hooks.ts";
import { OverviewPage } from "./pages/overview.tsx";
import { RunsPage } from "./pages/runs.tsx";
import { RunPage } from "./pages/run.tsx";
import { SchedulesPage } from "./pages/schedules.tsx";
import { WorkersPage } from "./pages/workers.tsx";
import { DlqPage } from "./pages/dlq.tsx";
import { SubmitPage } from "./pages/submit.tsx";

const _NAV = [
  { path: "", label: "Overview" },
  { path: "runs", label: "Runs" },
  { path: "schedules", label: "Schedules" },
  { path: "workers", label: "Workers" },
  { path: "dlq", label: "Dead letters" },
  { path: "submit", label: "Submit" },
] as const;

function App() {
  const route = useRoute();
  const auth = useAuth();
  const [dialog, setDialog] = useState(false);
  const top = route.parts[0] ?? "";

  useEffect(() => {
    if (auth.problem) setDialog(true);
  }, [auth.problem]);
  useEffect(() => {
    const label = _NAV.find((n) => n.path === top)?.label ?? "Dashboard";
    document.title = top === "runs" && route.parts[1]
      ? `Run ${route.parts[1]} · pyoco`
      : `${label} · pyoco`;
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [top, route.parts[1]]);

  let page;
  if (top === "runs" && route.parts[1]) {
    page = <RunPage key={`${route.parts[1]}:${auth.epoch}`} runId={route.parts[1]} />;
  } else if (top === "runs") page = <RunsPage key={auth.epoch} query={route.query} />;
  else if (top === "schedules") page = <SchedulesPage key={auth.epoch} query={route.query} />;
  else if (top === "workers") page = <WorkersPage key={auth.epoch} />;
  else if (top === "dlq") page = <DlqPage key={auth.epoch} />;
  else if (top === "submit") page = <SubmitPage key={auth.epoch} query={route.query} />;
  else if (top === "") page = <OverviewPage key={auth.epoch} />;
  else {
    page = (
      <div class="empty">
        <h1>Page not found</h1>
        <p>
          <a href="#/">Back to the overview</a>
        </p>
      </div>
    );
  }

  const keyLabel = auth.problem ? "API key needed" : auth.key ? "API key set" : "API key";
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById("main")?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/" aria-label="pyoco dashboard home">
          <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <circle cx="5" cy="12" r="3" />
            <circle cx="19" cy="5" r="3" />
            <circle cx="19" cy="19" r="3" />
            <path d="M8 11 16 6M8 13l8 5" />
          </svg>
          <span>pyoco</span>
        </a>
        <nav aria-label="Main">
          <ul>
            {_NAV.map((n) => (
              <li key={n.path}>
                <a
                  href={`#/${n.path}`}
                  aria-current={top === n.path ? "page" : undefined}
                >
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class={`btn btn-key ${auth.problem ? "btn-warn" : ""}`}
          onClick={() => setDialog(true)}
        >
          {keyLabel}
        </button>
      </header>
      <main id="main" tabIndex={-1}>{page}</main>
      {dialog && <KeyDialog problem={auth.problem} onClose={() => setDialog(false)} />}
    </>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
