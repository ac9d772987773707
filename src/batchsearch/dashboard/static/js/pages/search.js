// The search playground: a query with the filter builder, the exact request body (as curl and as a batch
// line), and the results.

import { api } from "../api.js";
import { field, h, notice, replace, toast } from "../dom.js";
import { autocomplete } from "../parts/autocomplete.js";
import { resultsList } from "../parts/results.js";
import { plural } from "../format.js";

const CATEGORIES = ["news", "news_premium", "news_public", "transcripts", "filings", "research",
  "research_investment_research", "research_academic_journals", "podcasts", "expert_interviews", "expert_networks",
  "newsletters", "my_files", "regulatory"];
const ENTITY_MODES = [["any_of", "any of"], ["all_of", "all of"], ["none_of", "none of"]];
export const PREFILL = "batchsearch.searchPrefill";

export function renderSearch(main) {
  const entities = []; // {id, name, mode}
  const sources = []; // {id, name}
  const text = h("input", { type: "search", name: "text", "data-testid": "search-input", placeholder: "e.g. contract revenue guidance" });
  const start = h("input", { type: "date", name: "start" });
  const end = h("input", { type: "date", name: "end" });
  const entityMode = h("select", { name: "entity-mode" }, ENTITY_MODES.map(([v, t]) => h("option", { value: v, text: t })));
  const entityChips = h("ul", { class: "chips", "aria-label": "Chosen entities" });
  const sourceMode = h("select", { name: "source-mode" }, ["INCLUDE", "EXCLUDE"].map((v) => h("option", { value: v, text: v.toLowerCase() })));
  const sourceChips = h("ul", { class: "chips", "aria-label": "Chosen sources" });
  const keywords = h("input", { type: "text", name: "keywords", placeholder: "comma separated" });
  const sentiment = h("select", { name: "sentiment" }, ["", "positive", "negative", "neutral"].map((v) => h("option", { value: v, text: v || "any" })));
  const categoryBoxes = CATEGORIES.map((c) => h("input", { type: "checkbox", value: c, id: `cat-${c}` }));
  const maxChunks = h("input", { type: "number", name: "max_chunks", value: "10", min: "1", max: "1000" });
  const freshness = h("input", { type: "number", name: "freshness_boost", value: "1", min: "0", max: "10", step: "0.1" });
  const sourceBoost = h("input", { type: "number", name: "source_boost", value: "1", min: "0", max: "10", step: "0.1" });
  const reranker = h("input", { type: "checkbox", id: "reranker" });
  const threshold = h("input", { type: "number", name: "threshold", value: "0.2", min: "0", max: "1", step: "0.05" });
  const diversify = h("input", { type: "checkbox", id: "diversify", checked: true });
  const enrich = h("input", { type: "checkbox", id: "enrich" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "search-submit", text: "Search" });
  const bodyView = h("pre", { class: "json", "data-testid": "request-body" });
  const curlView = h("pre", { class: "json wrap" });
  const lineView = h("pre", { class: "json wrap" });
  const message = h("div", { class: "message-slot" });
  const results = h("section", { class: "results", "aria-live": "polite", "aria-label": "Results" });

  const entityPicker = autocomplete({
    label: "Entities", placeholder: "Type a company name…", testid: "entity-input",
    suggest: async (q) => (await api("/v1/knowledge-graph/companies", { method: "POST", json: { query: q, limit: 8 } })).results,
    describe: (c) => [c.name, [c.id, c.country, c.sector].filter(Boolean).join(" · ")],
    onPick: (c) => { addEntity({ id: c.id, name: c.name, mode: entityMode.value }); },
  });
  const sourcePicker = autocomplete({
    label: "Sources", placeholder: "Type a source name…", testid: "source-input",
    suggest: async (q) => (await api("/v1/knowledge-graph/sources", { method: "POST", json: { query: q } })).results.slice(0, 8),
    describe: (s) => [s.name, [s.id, s.rank].filter(Boolean).join(" · ")],
    onPick: (s) => { if (!sources.some((x) => x.id === s.id)) sources.push({ id: s.id, name: s.name }); redraw(); },
  });

  function addEntity(entity) {
    if (!entities.some((e) => e.id === entity.id && e.mode === entity.mode)) entities.push(entity);
    redraw();
  }

  function chip(label, onRemove) {
    const remove = h("button", { type: "button", class: "chip-x", "aria-label": `Remove ${label}`, text: "×" });
    remove.addEventListener("click", onRemove);
    return h("li", { class: "chip" }, h("span", { text: label }), remove);
  }

  function redraw() {
    entityChips.replaceChildren(...entities.map((e, i) =>
      chip(`${e.name} (${e.id}) · ${e.mode.replace("_", " ")}`, () => { entities.splice(i, 1); redraw(); })));
    sourceChips.replaceChildren(...sources.map((s, i) => chip(`${s.name} (${s.id})`, () => { sources.splice(i, 1); redraw(); })));
    showRequest();
  }

  function requestBody() {
    const filters = {};
    if (start.value || end.value) filters.timestamp = { ...(start.value && { start: start.value }), ...(end.value && { end: end.value }) };
    if (entities.length) {
      filters.entity = {};
      for (const [mode] of ENTITY_MODES) {
        const ids = entities.filter((e) => e.mode === mode).map((e) => e.id);
        if (ids.length) filters.entity[mode] = ids;
      }
    }
    const words = keywords.value.split(",").map((w) => w.trim()).filter(Boolean);
    if (words.length) filters.keyword = { any_of: words };
    if (sources.length) filters.source = { mode: sourceMode.value, values: sources.map((s) => s.id) };
    const cats = categoryBoxes.filter((b) => b.checked).map((b) => b.value);
    if (cats.length) filters.category = { mode: "INCLUDE", values: cats };
    if (sentiment.value) filters.sentiment = { values: [sentiment.value] };
    const ranking = { freshness_boost: num(freshness, 1), source_boost: num(sourceBoost, 1),
      content_diversification: { enabled: diversify.checked } };
    if (reranker.checked) ranking.reranker = { enabled: true, threshold: num(threshold, 0.2) };
    const query = { text: text.value.trim(), auto_enrich_filters: enrich.checked, filters, ranking_params: ranking,
      max_chunks: Math.round(num(maxChunks, 10)) };
    return { search_mode: "fast", query };
  }

  function showRequest() {
    const body = requestBody();
    const json = JSON.stringify(body);
    bodyView.textContent = JSON.stringify(body, null, 2);
    curlView.textContent = `curl -s ${window.location.origin}/v1/search -H "X-API-KEY: $BATCHSEARCH_API_KEY" `
      + `-H "Content-Type: application/json" -d '${json.replaceAll("'", "'\\''")}'`;
    lineView.textContent = JSON.stringify({ query: body.query });
  }

  const form = h("form", { class: "search-form card", "aria-label": "Search" },
    h("div", { class: "search-row" }, field("Query", text), submit),
    h("details", { class: "filters", open: true }, h("summary", { text: "Filters" }),
      h("div", { class: "grid" },
        field("From date", start), field("To date", end),
        h("div", { class: "field-group" }, entityPicker, field("Entity match", entityMode), entityChips),
        h("div", { class: "field-group" }, sourcePicker, field("Sources are", sourceMode), sourceChips),
        field("Keywords", keywords, "Chunks with any of these words or phrases."),
        field("Sentiment", sentiment)),
      h("fieldset", { class: "categories" }, h("legend", { text: "Categories" }),
        categoryBoxes.map((box) => h("label", { for: box.id, class: "check" }, box, box.value.replaceAll("_", " "))))),
    h("details", { class: "filters" }, h("summary", { text: "Ranking and limits" }),
      h("div", { class: "grid" },
        field("Max chunks", maxChunks, "1 to 1000; 10 chunks cost 1 query unit."),
        field("Freshness boost", freshness), field("Source boost", sourceBoost),
        field("Reranker threshold", threshold),
        h("label", { class: "check", for: "reranker" }, reranker, "Rerank (drops chunks under the threshold)"),
        h("label", { class: "check", for: "diversify" }, diversify, "Content diversification"),
        h("label", { class: "check", for: "enrich" }, enrich, "Add entities detected in the query (auto_enrich_filters)"))));

  const copyCurl = copyButton("Copy as curl", curlView);
  const copyLine = copyButton("Copy as batch line", lineView);
  replace(main, h("h1", { text: "Search playground" }),
    h("div", { class: "two-col wide-left" },
      h("div", { class: "stack" }, form, message, results),
      h("aside", { class: "card request", "aria-label": "Request" },
        h("h2", { text: "Request body" }), bodyView,
        h("div", { class: "actions" }, copyCurl, copyLine),
        h("h3", { text: "curl" }), curlView, h("h3", { text: "Batch line" }), lineView)));

  form.addEventListener("input", showRequest);
  form.addEventListener("change", showRequest);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = requestBody();
    submit.disabled = true;
    replace(message);
    replace(results, h("p", { class: "muted", text: "Searching…" }));
    try {
      const answer = await api("/v1/search", { method: "POST", json: body });
      const units = answer.usage ? answer.usage.api_query_units : null;
      replace(results, h("h2", { text: plural(answer.results.length, "document") + (units !== null ? ` · ${units} query units` : "") }),
        resultsList(answer, body.query.text, "search-result"));
    } catch (error) {
      replace(results);
      replace(message, notice("error", error.message));
    } finally {
      submit.disabled = false;
    }
  });

  const prefill = sessionStorage.getItem(PREFILL);
  if (prefill) {
    sessionStorage.removeItem(PREFILL);
    try {
      const entity = JSON.parse(prefill);
      addEntity({ id: String(entity.id), name: String(entity.name), mode: "any_of" });
    } catch {
      // a stale or foreign value: ignore it
    }
  }
  redraw();
  text.focus();
  return null;
}

function num(input, fallback) {
  const value = Number(input.value);
  return input.value === "" || Number.isNaN(value) ? fallback : value;
}

function copyButton(label, source) {
  const button = h("button", { type: "button", text: label });
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.textContent);
      toast("Copied");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      toast("Selected: press Ctrl+C to copy");
    }
  });
  return button;
}
