// Building DOM nodes without HTML strings: every piece of data becomes a text node or an attribute value.

/** An element with attributes, properties, listeners and children (strings become text nodes). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = String(value);
    else if (name === "on") for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else if (name === "props") Object.assign(el, value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children (nested arrays, nodes, strings, numbers; null and false are skipped). */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A labelled form field: the label, the control and an optional hint, tied together by ids. */
let nextId = 0;
export function field(labelText, control, hint) {
  const id = control.id || `f${++nextId}`;
  control.id = id;
  const parts = [h("label", { for: id, text: labelText }), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("small", { id: hintId, class: "hint", text: hint }));
  }
  return h("div", { class: "field" }, parts);
}

/** A message box: role=alert for errors so screen readers announce it. */
export function notice(kind, ...children) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, children);
}

/** A table with a header row; rows are arrays of cells or prebuilt <tr> nodes. */
export function table(headers, rows, attrs = {}) {
  const head = h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", text: t }))));
  const body = h("tbody", {}, rows.map((r) => (r instanceof Node ? r : h("tr", {}, r.map((c) => h("td", {}, c))))));
  return h("div", { class: "table-wrap" }, h("table", attrs, head, body));
}

/** A short-lived message in the live region. */
export function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.classList.add("shown");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("shown"), 2500);
}
