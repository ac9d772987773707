// The caller's jobs, newest first, paged with the list cursor, filtered by status, refreshed while any runs.

import { api } from "../api.js";
import { field, h, notice, replace } from "../dom.js";
import { eta, isActive, rate, shortId, when } from "../format.js";
import { poll, progressBar, statusBadge } from "../parts/jobbits.js";

const PAGE_SIZE = 20;
const STATUSES = ["", "pending", "processing", "completed", "failed", "cancelled"];

export function renderJobs(main) {
  const state = { status: "", cursors: [null], page: 0, jobs: [], hasMore: false };
  const filter = h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s, text: s || "all" })));
  const newer = h("button", { type: "button", text: "← Newer" });
  const older = h("button", { type: "button", text: "Older →" });
  const message = h("div", { class: "message-slot" });
  const body = h("tbody");
  const empty = h("p", { class: "muted", hidden: true, text: "No jobs yet. Start one from New batch." });
  const updated = h("span", { class: "muted small", "aria-live": "off" });

  replace(main,
    h("div", { class: "page-head" }, h("h1", { text: "Jobs" }), h("a", { class: "button primary", href: "#/new", text: "New batch" })),
    h("div", { class: "toolbar" }, field("Status", filter), h("div", { class: "pager" }, newer, older), updated),
    message,
    h("div", { class: "table-wrap" }, h("table", { class: "jobs" },
      h("thead", {}, h("tr", {}, ["Job", "Status", "Phase", "Progress", "ETA", "Rate", "Created", "Finished", "Outcome"]
        .map((t) => h("th", { scope: "col", text: t })))),
      body)),
    empty);

  async function load() {
    try {
      const page = await api("/v1/search/batches", {
        query: { limit: PAGE_SIZE, status: state.status, after: state.cursors[state.page] },
      });
      state.jobs = page.data;
      state.hasMore = page.has_more;
      if (page.has_more) state.cursors[state.page + 1] = page.next_after;
      show();
      replace(message);
    } catch (error) {
      replace(message, notice("error", error.message));
    }
  }

  function show() {
    const rows = state.jobs.map(row);
    body.replaceChildren(...rows);
    empty.hidden = state.jobs.length > 0;
    newer.disabled = state.page === 0;
    older.disabled = !state.hasMore;
    updated.textContent = `Updated ${when(new Date().toISOString()).slice(11)}`;
  }

  const running = () => state.jobs.some(isActive);
  let current = poll(load, running);
  const restart = () => { current.stop(); current = poll(load, running); };
  filter.addEventListener("change", () => {
    Object.assign(state, { status: filter.value, cursors: [null], page: 0 });
    restart();
  });
  newer.addEventListener("click", () => { state.page = Math.max(0, state.page - 1); restart(); });
  older.addEventListener("click", () => { state.page += 1; restart(); });
  return () => current.stop();
}

function row(job) {
  const link = h("a", { href: `#/jobs/${encodeURIComponent(job.batch_id)}`, class: "mono", title: job.batch_id,
    text: shortId(job.batch_id) });
  return h("tr", { "data-testid": "job-row", "data-batch-id": job.batch_id },
    h("td", {}, link),
    h("td", {}, statusBadge(job.status)),
    h("td", { text: job.phase || "–" }),
    h("td", {}, progressBar(job, `Progress of job ${job.batch_id}`)),
    h("td", { text: eta(job) }),
    h("td", { text: rate(job.lines_per_second) }),
    h("td", { class: "nowrap", text: when(job.created_at) }),
    h("td", { class: "nowrap", text: when(job.completed_at) }),
    h("td", { text: (job.outcome || "–").replaceAll("_", " ") }));
}
