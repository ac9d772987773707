// Search results as documents with their chunks; chunk text highlighted from DOM nodes, never from HTML.

import { h } from "../dom.js";
import { when } from "../format.js";

const MARKS = { term: "term", entity: "entity", topic: "topic" };
const STOP = new Set(["the", "and", "for", "with", "from", "that", "this", "are", "was", "its", "about", "into", "over"]);

/** The words of a query worth highlighting (3+ letters, not stop words). */
export function queryTerms(text) {
  return [...new Set(String(text || "").toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) || [])].filter((w) => !STOP.has(w));
}

/** Chunk text as nodes: detected entities in <mark class="entity">, query words in <mark>. */
export function highlighted(text, detections = [], terms = []) {
  const chars = Array.from(text); // detection offsets count code points, as the server's strings do
  const kinds = new Array(chars.length).fill(null);
  for (const d of detections || []) {
    for (let i = Math.max(0, d.start); i < Math.min(chars.length, d.end); i++) kinds[i] = d.type || "entity";
  }
  if (terms.length) {
    const pattern = new RegExp(`[\\p{L}\\p{N}]+`, "gu");
    const joined = chars.join("");
    const offsets = codePointOffsets(chars);
    for (const m of joined.matchAll(pattern)) {
      if (!terms.includes(m[0].toLowerCase())) continue;
      const start = offsets.get(m.index);
      const end = start + Array.from(m[0]).length;
      for (let i = start; i < end; i++) if (!kinds[i]) kinds[i] = "term";
    }
  }
  const nodes = [];
  let i = 0;
  while (i < chars.length) {
    let j = i;
    while (j < chars.length && kinds[j] === kinds[i]) j++;
    const piece = chars.slice(i, j).join("");
    nodes.push(kinds[i] ? h("mark", { class: MARKS[kinds[i]] || "entity", text: piece }) : document.createTextNode(piece));
    i = j;
  }
  return nodes;
}

function codePointOffsets(chars) {
  const map = new Map();
  let unit = 0;
  chars.forEach((c, i) => { map.set(unit, i); unit += c.length; });
  return map;
}

/** One document: headline (linked when it has a URL), source, date, type, and its chunks. */
export function documentCard(doc, terms, testid) {
  const headline = doc.url && /^https?:\/\//.test(doc.url)
    ? h("a", { href: doc.url, target: "_blank", rel: "noopener noreferrer", text: doc.headline || doc.id })
    : doc.headline || doc.id;
  const source = doc.source ? `${doc.source.name || doc.source.id}${doc.source.rank ? ` · ${doc.source.rank}` : ""}` : "–";
  return h("article", { class: "doc", "data-testid": testid },
    h("h3", {}, headline),
    h("p", { class: "doc-meta" },
      h("span", { text: source }), h("span", { text: when(doc.timestamp) }),
      doc.document_type ? h("span", { text: doc.document_type }) : null,
      h("span", { class: "mono muted", text: doc.id })),
    (doc.chunks || []).map((chunk) => h("div", { class: "chunk" },
      h("p", { class: "chunk-meta" },
        h("span", { text: `chunk ${chunk.cnum}` }),
        h("span", { text: `relevance ${fixed(chunk.relevance)}` }),
        chunk.sentiment !== undefined && chunk.sentiment !== null ? h("span", { text: `sentiment ${fixed(chunk.sentiment)}` }) : null),
      h("p", { class: "chunk-text" }, highlighted(chunk.text || "", chunk.detections, terms)))));
}

/** A whole search response: documents, or a note when there are none. */
export function resultsList(response, queryText, testid) {
  const docs = (response && response.results) || [];
  if (!docs.length) return [h("p", { class: "muted", text: "No documents matched." })];
  const terms = queryTerms(queryText);
  const key = h("p", { class: "mark-key small muted" }, "Highlighted: ", h("mark", { class: "entity", text: "entities" }), " ",
    h("mark", { class: "topic", text: "topics" }), " ", h("mark", { class: "term", text: "query words" }));
  return [key, ...docs.map((doc) => documentCard(doc, terms, testid))];
}

function fixed(value) {
  return typeof value === "number" ? value.toFixed(3) : "–";
}
