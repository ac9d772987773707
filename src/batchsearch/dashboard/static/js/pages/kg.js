// The knowledge graph browser: find companies by name, resolve identifiers (ISIN, CUSIP, SEDOL, listing).

import { api } from "../api.js";
import { field, h, notice, replace, table } from "../dom.js";
import { PREFILL } from "./search.js";

const KINDS = [["isin", "ISIN"], ["cusip", "CUSIP"], ["sedol", "SEDOL"], ["listing", "Listing (MIC:TICKER)"], ["ticker", "Ticker"]];

export function renderKg(main) {
  const name = h("input", { type: "search", name: "company", "data-testid": "kg-company-input", placeholder: "e.g. Bayer" });
  const find = h("button", { type: "submit", class: "primary", "data-testid": "kg-company-submit", text: "Find companies" });
  const found = h("div", { "aria-live": "polite" });
  const kind = h("select", { name: "kind" }, KINDS.map(([v, t]) => h("option", { value: v, text: t })));
  const values = h("textarea", { name: "values", rows: "3", "data-testid": "kg-id-input", placeholder: "One identifier per line, e.g. DE000BAY0017" });
  const lookup = h("button", { type: "submit", class: "primary", "data-testid": "kg-id-submit", text: "Look up" });
  const resolved = h("div", { "aria-live": "polite" });

  const companyForm = h("form", { class: "card" }, h("h2", { text: "Companies" }),
    h("div", { class: "search-row" }, field("Name, ticker or identifier", name), find), found);
  const idForm = h("form", { class: "card" }, h("h2", { text: "Identifier lookup" }),
    h("div", { class: "grid" }, field("Identifier type", kind), field("Identifiers", values)),
    h("div", { class: "actions" }, lookup), resolved);
  replace(main, h("h1", { text: "Knowledge graph" }), h("div", { class: "stack" }, companyForm, idForm));

  companyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!name.value.trim()) return;
    try {
      const answer = await api("/v1/knowledge-graph/companies", { method: "POST", json: { query: name.value.trim(), limit: 25 } });
      replace(found, answer.results.length ? companyTable(answer.results) : h("p", { class: "muted", text: "No company matched." }));
    } catch (error) {
      replace(found, notice("error", error.message));
    }
  });
  idForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const list = values.value.split(/[\s,]+/).map((v) => v.trim()).filter(Boolean);
    if (!list.length) return;
    try {
      const answer = await api(`/v1/knowledge-graph/companies/${kind.value}`, { method: "POST", json: { values: list } });
      const rows = Object.entries(answer.results).map(([value, company]) => h("tr", { "data-testid": "kg-id-row" },
        h("td", { class: "mono", text: value }),
        h("td", { text: company.name || "not found" }),
        h("td", { class: "mono", text: company.id || "–" }),
        h("td", { text: company.country || "–" }),
        h("td", {}, company.id ? searchLink(company) : null)));
      replace(resolved, table(["Identifier", "Company", "Id", "Country", ""], rows));
    } catch (error) {
      replace(resolved, notice("error", error.message));
    }
  });
  name.focus();
  return null;
}

function companyTable(companies) {
  const rows = companies.map((c) => h("tr", { "data-testid": "kg-company-row" },
    h("td", {}, h("strong", { text: c.name }), c.description ? h("div", { class: "muted small", text: c.description }) : null),
    h("td", { class: "mono", text: c.id }),
    h("td", { text: [c.type, c.country].filter(Boolean).join(" · ") || "–" }),
    h("td", { text: c.sector || "–" }),
    h("td", { class: "mono small", text: [...c.isin_values, ...c.listing_values].slice(0, 4).join(" ") || "–" }),
    h("td", {}, searchLink(c))));
  return table(["Company", "Id", "Type", "Sector", "Identifiers", ""], rows);
}

function searchLink(company) {
  const button = h("button", { type: "button", class: "small", text: "Search news", "aria-label": `Search news about ${company.name}` });
  button.addEventListener("click", () => {
    sessionStorage.setItem(PREFILL, JSON.stringify({ id: company.id, name: company.name }));
    window.location.hash = "#/search";
  });
  return button;
}
