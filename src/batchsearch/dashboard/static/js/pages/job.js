// One job: its status fields, counts by outcome, throughput chart, finished lines and the actions on it.

import { api, readLines } from "../api.js";
import { field, h, notice, replace, toast } from "../dom.js";
import { count, duration, eta, isActive, isRunning, rate, when } from "../format.js";
import { record, throughputChart } from "../parts/chart.js";
import { poll, progressBar, statusBadge } from "../parts/jobbits.js";
import { resultsList } from "../parts/results.js";

const OUTCOMES = [
  ["succeeded", "Succeeded"], ["errored", "Errored (4xx)"], ["timed_out", "Timed out"], ["failed", "Exception (5xx)"],
  ["pending", "Not finished"],
];

export function renderJob(main, id) {
  const path = `/v1/search/batches/${encodeURIComponent(id)}`;
  let job = null;
  let poller = null;
  let chart = null;
  const badge = h("span");
  const cancel = h("button", { type: "button", "data-testid": "cancel-job", text: "Cancel", disabled: true });
  const retry = h("button", { type: "button", "data-testid": "retry-job", text: "Retry failed lines", disabled: true });
  const remove = h("button", { type: "button", class: "danger", "data-testid": "delete-job", text: "Delete", disabled: true });
  const download = h("a", { class: "button", "data-testid": "download-output", text: "Download output", hidden: true, download: "" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Job actions", hidden: true },
    cancel, retry, remove, download);
  const message = h("div", { class: "message-slot" });
  const fields = h("dl", { class: "fields" });
  const outcomes = h("div", { class: "outcomes" });
  const chartBox = h("div");
  const lines = linesSection(path);
  const body = h("div", { class: "job-body", hidden: true },
    h("div", { class: "two-col" },
      h("section", { class: "card" }, h("h2", { text: "Status" }), fields),
      h("div", { class: "stack" },
        h("section", { class: "card" }, h("h2", { text: "Lines by outcome" }), outcomes),
        h("section", { class: "card" }, h("h2", { text: "Throughput" }), chartBox))),
    lines.section);

  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs", text: "← Jobs" })),
    h("div", { class: "page-head" },
      h("h1", {}, "Job ", h("span", { class: "mono id", text: id })), badge),
    actions, message, body);

  function show(next) {
    job = next;
    replace(badge, statusBadge(job.status));
    replace(fields, statusFields(job));
    replace(outcomes, outcomeCounts(job));
    const c = job.request_counts || {};
    cancel.disabled = !isRunning(job);
    retry.disabled = isActive(job) || !((c.timed_out || 0) + (c.failed || 0));
    remove.disabled = isActive(job);
    const output = job.output_file_url && /^(https?:\/\/|\/)/.test(job.output_file_url) ? job.output_file_url : null;
    download.hidden = !output;
    if (output) download.href = output;
    body.hidden = false;
    actions.hidden = false;
    if (!chart) chart = throughputChart(chartBox);
    chart.update(record(job));
    lines.refresh(job);
  }

  async function tick() {
    try {
      show(await api(path));
    } catch (error) {
      replace(message, notice("error", error.message));
      if (error.status === 404) { body.hidden = true; actions.hidden = true; }
    }
  }

  const startPolling = () => {
    if (poller) poller.stop();
    poller = poll(tick, () => job !== null && isActive(job));
  };

  async function act(button, run, done) {
    button.disabled = true;
    replace(message);
    try {
      await run();
      done();
    } catch (error) {
      replace(message, notice("error", error.message));
      if (job) show(job);
    }
  }

  cancel.addEventListener("click", () => act(cancel, async () => show(await api(`${path}/cancel`, { method: "POST" })),
    () => { toast("Cancel requested"); startPolling(); }));
  retry.addEventListener("click", () => act(retry, async () => show(await api(`${path}/retry`, { method: "POST" })),
    () => { toast("Retrying the failed lines"); startPolling(); }));
  remove.addEventListener("click", () => {
    if (remove.dataset.confirm !== "yes") {
      remove.dataset.confirm = "yes";
      remove.textContent = "Click again to delete";
      return;
    }
    act(remove, () => api(path, { method: "DELETE" }), () => { toast("Job deleted"); window.location.hash = "#/jobs"; });
  });

  startPolling();
  return () => { if (poller) poller.stop(); if (chart) chart.destroy(); };
}

function statusFields(job) {
  const { done, total } = { done: job.lines_done, total: job.lines_total };
  const wall = job.started_at && job.completed_at ? (Date.parse(job.completed_at) - Date.parse(job.started_at)) / 1000 : null;
  const rows = [
    ["Status", statusBadge(job.status, "job-status-field")],
    ["Phase", job.phase || "–"],
    ["Outcome", (job.outcome || "–").replaceAll("_", " ")],
    ["Progress", progressBar(job, "Lines finished")],
    ["Lines", `${count(done)} of ${count(total)}`],
    ["Rate", rate(job.lines_per_second)],
    ["ETA", eta(job)],
    ["Created", when(job.created_at)],
    ["Started", when(job.started_at)],
    ["Finished", when(job.completed_at)],
    ["Run time", duration(wall)],
    ["Queue position", job.queue_position ?? "–"],
    ["Priority", job.priority],
    ["Retries", job.retries],
    ["Index snapshot", h("span", { class: "mono", text: job.snapshot_id || "–" })],
    ["Webhook", job.webhook ? `${job.webhook.state} (${job.webhook.url})` : "–"],
    ["Files expire", when(job.files_expire_at)],
  ];
  if (job.files_deleted_at) rows.push(["Files deleted", when(job.files_deleted_at)]);
  if (job.error) rows.push(["Error", h("span", { class: "error-text", text: job.error })]);
  return rows.map(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]);
}

function outcomeCounts(job) {
  const c = job.request_counts;
  if (!c) return h("p", { class: "muted", text: "No lines yet (the file is not uploaded)." });
  const total = Math.max(c.total, 1);
  const bar = h("div", { class: "stacked", role: "img",
    "aria-label": OUTCOMES.map(([k, label]) => `${label}: ${c[k]}`).join(", ") });
  for (const [key] of OUTCOMES) {
    if (!c[key]) continue;
    const part = h("span", { class: `seg seg-${key}` });
    part.style.flexGrow = String(c[key] / total); // CSSOM, which the page's CSP allows (no style attribute)
    bar.append(part);
  }
  const legend = h("ul", { class: "legend" }, OUTCOMES.map(([key, label]) =>
    h("li", { "data-outcome": key }, h("span", { class: `swatch seg-${key}`, "aria-hidden": "true" }),
      h("span", { text: label }), h("strong", { text: count(c[key]) }))));
  return [bar, legend];
}

const PAGE = 25;
const LINE_STATUSES = ["", "success", "error", "timeout", "exception"];

/** Finished lines read with results?from_line=, a page at a time (the stream is closed once a page is full). */
function linesSection(path) {
  const state = { starts: [1], page: 0, rows: [], next: null, full: false, loading: false, shown: null };
  const filter = h("select", { name: "line-status" }, LINE_STATUSES.map((s) => h("option", { value: s, text: s || "all" })));
  const prev = h("button", { type: "button", text: "← Previous" });
  const next = h("button", { type: "button", text: "Next →" });
  const info = h("span", { class: "muted small" });
  const body = h("tbody");
  const detail = h("div", { class: "line-detail", "data-testid": "line-detail", tabindex: "-1" });
  const section = h("section", { class: "card" },
    h("h2", { text: "Finished lines" }),
    h("p", { class: "muted small", text: "Read in order from the output as lines finish; open a line by its number." }),
    h("div", { class: "toolbar" }, field("Line status", filter), h("div", { class: "pager" }, prev, next), info),
    h("div", { class: "table-wrap" }, h("table", { class: "lines" },
      h("thead", {}, h("tr", {}, ["Line", "Status", "Code", "Query", "Documents"].map((t) => h("th", { scope: "col", text: t })))),
      body)),
    detail);

  async function load() {
    if (state.loading) return;
    state.loading = true;
    const from = state.starts[state.page];
    const rows = [];
    let last = from - 1;
    try {
      const response = await api(`${path}/results`, { query: { from_line: from }, raw: true });
      let stopped = false;
      await readLines(response, (line) => {
        last = line.line_number;
        if (!filter.value || line.status === filter.value) rows.push(line);
        if (rows.length >= PAGE) { stopped = true; return false; }
        return true;
      });
      state.rows = rows;
      state.full = stopped;
      state.next = stopped ? last + 1 : null;
      draw(response.headers.get("X-Batchsearch-Lines-Finished"));
    } catch (error) {
      replace(detail, notice("error", error.message));
    } finally {
      state.loading = false;
    }
  }

  function draw(finished) {
    body.replaceChildren(...state.rows.map(lineRow));
    if (!state.rows.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted", text: "No finished lines here yet." })));
    prev.disabled = state.page === 0;
    next.disabled = !state.full;
    info.textContent = finished !== null ? `${count(Number(finished))} lines finished` : "";
  }

  function lineRow(line) {
    const open = h("button", { type: "button", class: "small line-open", text: line.line_number,
      "aria-label": `Open line ${line.line_number}` });
    open.addEventListener("click", () => showLine(line));
    const docs = line.response && line.response.results ? line.response.results.length : "–";
    const text = line.query && typeof line.query.text === "string" ? line.query.text : line.error || "–";
    return h("tr", { "data-testid": "results-row", "data-line": line.line_number },
      h("td", {}, open),
      h("td", {}, h("span", { class: `badge line-${line.status}`, text: line.status })),
      h("td", { class: "num", text: line.code ?? "–" }),
      h("td", { class: "query-cell", text: text, title: text }),
      h("td", { class: "num", text: docs }));
  }

  function showLine(line) {
    state.shown = line.line_number;
    replace(detail,
      h("h3", {}, `Line ${line.line_number} `, h("span", { class: `badge line-${line.status}`, text: line.status })),
      line.error ? notice("error", line.error) : null,
      h("h4", { text: "Query" }),
      h("pre", { class: "json", text: JSON.stringify(line.query, null, 2) }),
      line.response ? [h("h4", { text: "Documents and chunks" }), resultsList(line.response, line.query && line.query.text, "line-document")] : null);
    detail.focus();
  }

  filter.addEventListener("change", () => { Object.assign(state, { starts: [1], page: 0 }); load(); });
  prev.addEventListener("click", () => { state.page = Math.max(0, state.page - 1); load(); });
  next.addEventListener("click", () => {
    if (state.next === null) return;
    state.starts[state.page + 1] = state.next;
    state.page += 1;
    load();
  });

  let lastDone = -1;
  /** Reload the page while it is not full and the job has finished more lines since. */
  function refresh(job) {
    const done = job.lines_done;
    if (done !== lastDone && !state.full) load();
    lastDone = done;
  }

  return { section, refresh };
}
