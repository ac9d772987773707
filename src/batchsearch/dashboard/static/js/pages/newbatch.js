// A new batch: pick or drop a .jsonl file, validate it (problems by line and field), then create, upload, go.

import { api, uploadFile } from "../api.js";
import { field, h, notice, replace, table } from "../dom.js";
import { count, plural } from "../format.js";

export function renderNewBatch(main) {
  let file = null;
  let report = null;
  const fileInput = h("input", { type: "file", accept: ".jsonl,.ndjson,application/jsonl,application/x-ndjson",
    "data-testid": "new-batch-file"});
  const fileName = h("span", { class: "file-name", text: "No file chosen" });
  const drop = h("div", { class: "dropzone" },
    h("p", {}, h("strong", { text: "Drop a .jsonl file here" }), " or "),
    field("Choose a file", fileInput),
    fileName);
  const priority = h("input", { type: "number", name: "priority", value: "0", min: "-1000", max: "1000", step: "1" });
  const webhook = h("input", { type: "url", name: "webhook_url", placeholder: "https://example.com/hook" });
  const idem = h("input", { type: "text", name: "idempotency_key", maxlength: "255", autocomplete: "off" });
  const validateFirst = h("input", { type: "checkbox", name: "validate_first" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "submit-batch", disabled: true,
    text: "Create and upload" });
  const report_ = h("section", { class: "report", "aria-live": "polite" });
  const uploadBar = h("progress", { max: 1, value: 0, "aria-label": "Upload progress", hidden: true });
  const uploadText = h("span", { class: "muted" });
  const message = h("div", { class: "message-slot" });

  const form = h("form", { class: "stack" },
    h("section", { class: "card" }, h("h2", { text: "1. Input file" }),
      h("p", { class: "muted" }, "One search per line: ", h("code", { text: '{"query": {"text": "…", "filters": {…}, "max_chunks": 10}}' }),
        ". The file is checked by the server's validate endpoint before anything is queued."),
      drop, report_),
    h("section", { class: "card" }, h("h2", { text: "2. Options" }),
      h("div", { class: "grid" },
        field("Priority", priority, "Higher runs first (-1000 to 1000)."),
        field("Webhook URL", webhook, "Gets the signed status when the job finishes."),
        field("Idempotency key", idem, "Retrying with the same key returns the same job."),
        h("div", { class: "field checkbox" }, validateFirst, h("label", { for: validateFirst.id = "validate-first",
          text: "Validate first: run only if every line is valid" })))),
    h("section", { class: "card" }, h("h2", { text: "3. Submit" }),
      h("div", { class: "actions" }, submit, uploadBar, uploadText), message));
  replace(main, h("h1", { text: "New batch" }), form);

  async function choose(picked) {
    if (!picked) return;
    file = picked;
    report = null;
    submit.disabled = true;
    fileName.textContent = `${picked.name} (${count(picked.size)} bytes)`;
    replace(report_, notice("info", "Validating…"));
    replace(message);
    try {
      report = await api("/v1/search/batches/validate", { method: "POST", body: picked,
        headers: { "Content-Type": "application/x-ndjson" } });
      replace(report_, validationReport(report));
      submit.disabled = report.lines_total === 0;
    } catch (error) {
      replace(report_, notice("error", error.message));
    }
  }

  fileInput.addEventListener("change", () => choose(fileInput.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    choose(e.dataTransfer.files[0]);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file || !report) return;
    submit.disabled = true;
    replace(message);
    const options = { priority: Number(priority.value || 0), validate_first: validateFirst.checked };
    if (webhook.value.trim()) options.webhook_url = webhook.value.trim();
    const headers = idem.value.trim() ? { "Idempotency-Key": idem.value.trim() } : {};
    try {
      const created = await api("/v1/search/batches", { method: "POST", json: options, headers });
      uploadBar.hidden = false;
      await uploadFile(created.presigned_url, file, (loaded, total) => {
        uploadBar.max = Math.max(total, 1);
        uploadBar.value = loaded;
        uploadText.textContent = `Uploading ${Math.round((100 * loaded) / Math.max(total, 1))}%`;
      });
      window.location.hash = `#/jobs/${encodeURIComponent(created.batch_id)}`;
    } catch (error) {
      replace(message, notice("error", error.message));
      submit.disabled = false;
    }
  });
  return null;
}

function validationReport(report) {
  const summary = h("p", {},
    h("strong", { text: report.valid ? "The file is valid. " : "The file has problems. " }),
    `${plural(report.lines_total, "line")}: ${count(report.lines_valid)} valid, ${count(report.lines_invalid)} invalid; `
      + `at most ${report.max_query_units} query units.`);
  const parts = [summary];
  if (report.problems.length) {
    parts.push(h("p", { class: "muted", text: "Invalid lines become error lines in the output; the others run." }));
    const rows = report.problems.map((p) => h("tr", { "data-testid": "problem-row" },
      h("td", { class: "num", text: p.line ?? "file" }), h("td", { class: "mono", text: p.field }), h("td", { text: p.message })));
    parts.push(table(["Line", "Field", "Message"], rows, { "data-testid": "validate-problems", class: "problems" }));
    if (report.problems_truncated) parts.push(h("p", { class: "muted", text: "Only the first problems are listed." }));
  }
  if (report.duplicate_custom_ids.length) {
    parts.push(table(["custom_id", "Lines"], report.duplicate_custom_ids.map((d) => [d.custom_id, d.lines.join(", ")])));
  }
  return parts;
}
