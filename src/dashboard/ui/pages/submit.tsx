/** @jsxRuntime automatic */
/** @jsxImportSource preact */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Submit a run: a flow name with JSON params (`POST /runs`), or an uploaded flow.yaml
 * (`POST /runs/yaml`). The flow is picked from the flow catalog (`GET /flows`, SPEC §12): the
 * tags the workers serve, the flows of the chosen tag, the flow's defaults prefilled as params and
 * its graph drawn before submitting, with how many live workers offer it. Both forms pick a priority
 * (SPEC §13: normal, high, low), sent only when it is not `normal`, so a normal run's request is
 * what pyoco-server 0.4 sends. Validation errors from
 * the gateway (a mistyped flow: 422 with "did you mean") are shown next to the form; a successful
 * submit opens the new run.
 *
 * @module
 */

import { useEffect, useMemo, useState } from "preact/hooks";
import type { FlowView } from "../../../contract/catalog.ts";
import { DEFAULT_PRIORITY, PRIORITIES } from "../../../contract/tenancy.ts";
import {
  api,
  ApiError,
  authHeaders,
  errorOf,
  type RunSummary,
  type SubmitResponse,
} from "../api.ts";
import { Banner, Panel } from "../components.tsx";
import { layoutDag } from "../dag.ts";
import { DagView } from "../dag_view.tsx";
import { namedPriority } from "../format.ts";
import { navigate } from "../hooks.ts";

/** What the catalog says about the flow and tag typed in the form. */
function _FlowInfo(props: { catalog: FlowView[] | null; tag: string; flow: string }) {
  const { catalog, tag, flow } = props;
  const entry = catalog?.find((f) => f.tag === tag && f.flow_name === flow) ?? null;
  const layout = useMemo(
    () => (entry ? layoutDag(entry.tasks, entry.graph) : null),
    [entry?.graph, entry?.tasks.join(",")],
  );
  if (catalog === null || flow.trim() === "") return null;
  const tagKnown = catalog.some((f) => f.tag === tag);
  if (!entry) {
    return (
      <p class="hint" data-catalog="unknown">
        {tagKnown
          ? `No worker of tag ${tag} offers "${flow}"; the gateway will suggest a name.`
          : `No worker has announced tag ${tag}: the run will wait until one serves it.`}
      </p>
    );
  }
  const n = entry.live_workers.length;
  return (
    <div class="flow-preview" data-catalog="known">
      <p class={n > 0 ? "hint" : "field-error"}>
        {n > 0
          ? `Offered by ${n} live worker${n === 1 ? "" : "s"} (${entry.live_workers.join(", ")}).`
          : `No live worker offers it on tag ${tag} right now: the run will wait.`}
      </p>
      {layout && (
        <div class="dag-wrap" aria-label={`Graph of ${entry.flow_name}`}>
          <DagView layout={layout} states={{}} records={{}} selected={null} onSelect={() => {}} />
        </div>
      )}
    </div>
  );
}

/** The priority select of a form: normal (the default), high, low. */
function _PrioritySelect(props: { id: string; value: string; onChange: (v: string) => void }) {
  return (
    <>
      <label for={props.id}>Priority</label>
      <select
        id={props.id}
        name="priority"
        value={props.value}
        aria-describedby={`${props.id}-help`}
        onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}
      >
        {PRIORITIES.map((p) => <option key={p} value={p}>{p}</option>)}
      </select>
      <p id={`${props.id}-help`} class="hint">
        A worker with a free slot takes high before normal before low runs of its queue.
      </p>
    </>
  );
}

function _jsonProblem(text: string): string | null {
  if (text.trim() === "") return null;
  try {
    const v = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      return "Params must be a JSON object";
    }
    return null;
  } catch (err) {
    return `Invalid JSON: ${(err as Error).message}`;
  }
}

/**
 * The submit page.
 *
 * @param props Prefill from the route query (`flow`, `params`, `tag`, `priority`).
 * @returns The page.
 */
export function SubmitPage(props: { query: URLSearchParams }) {
  const [flow, setFlow] = useState(props.query.get("flow") ?? "");
  const [tag, setTag] = useState(props.query.get("tag") || "default");
  // Params given in the link (Submit again) are the user's: the flow's defaults never replace them.
  const [paramsTouched, setParamsTouched] = useState(props.query.get("params") !== null);
  const [catalog, setCatalog] = useState<FlowView[] | null>(null);
  const [params, setParams] = useState(() => {
    const p = props.query.get("params");
    if (!p) return "{}";
    try {
      return JSON.stringify(JSON.parse(p), null, 2);
    } catch {
      return p;
    }
  });
  const [priority, setPriority] = useState<string>(
    () => namedPriority(props.query.get("priority")) ?? DEFAULT_PRIORITY,
  );
  const [idem, setIdem] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [flows, setFlows] = useState<string[]>([]);

  const [yamlFlow, setYamlFlow] = useState("");
  const [yamlTag, setYamlTag] = useState("default");
  const [yamlPriority, setYamlPriority] = useState<string>(DEFAULT_PRIORITY);
  const [file, setFile] = useState<File | null>(null);
  const [yamlError, setYamlError] = useState<unknown>(null);
  const [yamlBusy, setYamlBusy] = useState(false);

  useEffect(() => {
    api<FlowView[]>("/flows").then(setCatalog).catch(() => setCatalog(null));
    api<RunSummary[]>("/runs?limit=200")
      .then((runs) => setFlows([...new Set(runs.map((r) => r.flow_name))].sort()))
      .catch(() => {});
  }, []);

  const tagNow = tag.trim() || "default";
  const tags = [...new Set(["default", ...(catalog ?? []).map((f) => f.tag)])].sort();
  const offered = (catalog ?? []).filter((f) => f.tag === tagNow).map((f) => f.flow_name);
  const choices = offered.length > 0 ? offered : flows;
  const entry = catalog?.find((f) => f.tag === tagNow && f.flow_name === flow.trim()) ?? null;
  useEffect(() => {
    if (entry && !paramsTouched) setParams(JSON.stringify(entry.defaults ?? {}, null, 2));
  }, [entry?.flow_name, entry?.tag, paramsTouched]);

  const problem = _jsonProblem(params);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (problem) return;
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { flow_name: flow.trim() };
      if (params.trim() !== "") body.params = JSON.parse(params);
      if (tag.trim() !== "" && tag.trim() !== "default") body.tag = tag.trim();
      const named = namedPriority(priority);
      if (named) body.priority = named;
      const res = await api<SubmitResponse>("/runs", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(idem.trim() ? { "idempotency-key": idem.trim() } : {}),
        },
        body: JSON.stringify(body),
      });
      navigate(`/runs/${encodeURIComponent(res.run_id)}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const submitYaml = async (e: Event) => {
    e.preventDefault();
    if (!file) {
      setYamlError(new Error("Choose a flow.yaml file first"));
      return;
    }
    setYamlBusy(true);
    setYamlError(null);
    try {
      const form = new FormData();
      form.set("workflow", file, file.name);
      form.set("flow_name", yamlFlow.trim());
      if (yamlTag.trim()) form.set("tag", yamlTag.trim());
      const named = namedPriority(yamlPriority);
      if (named) form.set("priority", named);
      let res: Response;
      try {
        res = await fetch("/runs/yaml", { method: "POST", headers: authHeaders(), body: form });
      } catch (err) {
        throw new ApiError(0, `Cannot reach the gateway: ${(err as Error).message}`);
      }
      if (!res.ok) throw await errorOf(res);
      const body = await res.json() as SubmitResponse;
      navigate(`/runs/${encodeURIComponent(body.run_id)}`);
    } catch (err) {
      setYamlError(err);
    } finally {
      setYamlBusy(false);
    }
  };

  return (
    <div class="page">
      <div class="page-head">
        <h1>Submit a run</h1>
      </div>
      <div class="grid-2 grid-even">
        <Panel title="Run a flow by name">
          <form class="form" onSubmit={submit} aria-label="Run a flow by name">
            <label for="s-flow">Flow name</label>
            <input
              id="s-flow"
              name="flow_name"
              required
              list="s-flows"
              value={flow}
              placeholder="hello"
              onInput={(e) => setFlow((e.target as HTMLInputElement).value)}
            />
            <datalist id="s-flows">
              {choices.map((f) => <option key={f} value={f} />)}
            </datalist>
            <label for="s-tag">Tag (work queue)</label>
            <input
              id="s-tag"
              name="tag"
              list="s-tags"
              value={tag}
              pattern="[A-Za-z0-9_\-]{1,64}"
              onInput={(e) => setTag((e.target as HTMLInputElement).value)}
            />
            <datalist id="s-tags">
              {tags.map((t) => <option key={t} value={t} />)}
            </datalist>
            <_FlowInfo catalog={catalog} tag={tagNow} flow={flow.trim()} />
            <label for="s-params">Params (JSON object)</label>
            <textarea
              id="s-params"
              name="params"
              rows={8}
              spellcheck={false}
              value={params}
              aria-invalid={problem ? true : undefined}
              aria-describedby="s-params-help"
              // Focus counts as touching: the flow's defaults arriving while the user (or a test)
              // is typing would replace the text under the caret and merge the two.
              onFocus={() => setParamsTouched(true)}
              onInput={(e) => {
                setParamsTouched(true);
                setParams((e.target as HTMLTextAreaElement).value);
              }}
            />
            <p id="s-params-help" class={problem ? "field-error" : "hint"}>
              {problem ??
                (entry
                  ? "Prefilled with the flow's defaults; what you give is overlaid on them."
                  : 'Overlaid on the flow\'s defaults, e.g. {"x": 2}.')}
            </p>
            <_PrioritySelect id="s-priority" value={priority} onChange={setPriority} />
            <label for="s-idem">Idempotency key (optional)</label>
            <input
              id="s-idem"
              value={idem}
              placeholder="submitting twice with the same key makes one run"
              onInput={(e) => setIdem((e.target as HTMLInputElement).value)}
            />
            <Banner error={error ?? undefined} />
            <div class="form-actions">
              <button type="submit" class="btn btn-primary" disabled={busy || problem !== null}>
                {busy ? "Submitting…" : "Submit run"}
              </button>
            </div>
          </form>
        </Panel>
        <Panel title="Upload a flow.yaml">
          <form class="form" onSubmit={submitYaml} aria-label="Upload a flow.yaml">
            <label for="y-file">flow.yaml</label>
            <input
              id="y-file"
              type="file"
              accept=".yaml,.yml,application/yaml,text/yaml"
              onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)}
            />
            <label for="y-flow">Flow name (in the file)</label>
            <input
              id="y-flow"
              required
              value={yamlFlow}
              placeholder="demo"
              onInput={(e) => setYamlFlow((e.target as HTMLInputElement).value)}
            />
            <label for="y-tag">Tag (work queue)</label>
            <input
              id="y-tag"
              value={yamlTag}
              pattern="[A-Za-z0-9_\-]{1,64}"
              onInput={(e) => setYamlTag((e.target as HTMLInputElement).value)}
            />
            <_PrioritySelect id="y-priority" value={yamlPriority} onChange={setYamlPriority} />
            <p class="hint">
              The flow.yaml may use only the tasks the workers expose; see{" "}
              <code>docs/flows.md</code>.
            </p>
            <Banner error={yamlError ?? undefined} />
            <div class="form-actions">
              <button type="submit" class="btn btn-primary" disabled={yamlBusy}>
                {yamlBusy ? "Uploading…" : "Upload and run"}
              </button>
            </div>
          </form>
        </Panel>
      </div>
    </div>
  );
}
