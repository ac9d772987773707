// A combobox (WAI-ARIA 1.2 pattern): typing asks `suggest(text)` for options; arrows, Enter and Escape work.

import { h } from "../dom.js";

let nextId = 0;

/** An input with a listbox of suggestions; `onPick(item)` gets the chosen one. */
export function autocomplete({ label, placeholder, suggest, describe, onPick, testid }) {
  const id = `ac${++nextId}`;
  const input = h("input", { type: "text", id, role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false",
    "aria-controls": `${id}-list`, autocomplete: "off", placeholder, "data-testid": testid });
  const list = h("ul", { id: `${id}-list`, role: "listbox", class: "listbox", hidden: true, "aria-label": label });
  let items = [];
  let active = -1;
  let timer = null;
  let asked = 0;

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function show(found) {
    items = found;
    list.replaceChildren(...found.map((item, i) => {
      const [main, sub] = describe(item);
      const option = h("li", { role: "option", id: `${id}-o${i}`, "aria-selected": "false", "data-testid": `${testid}-option` },
        h("span", { text: main }), sub ? h("small", { text: sub }) : null);
      option.addEventListener("mousedown", (e) => { e.preventDefault(); pick(i); });
      return option;
    }));
    if (!found.length) list.append(h("li", { class: "muted", role: "presentation", text: "No match" }));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    setActive(found.length ? 0 : -1);
  }

  function setActive(i) {
    active = i;
    [...list.querySelectorAll("[role=option]")].forEach((o, j) => o.setAttribute("aria-selected", String(j === i)));
    if (i >= 0) input.setAttribute("aria-activedescendant", `${id}-o${i}`);
    else input.removeAttribute("aria-activedescendant");
  }

  function pick(i) {
    const item = items[i];
    if (!item) return;
    close();
    input.value = "";
    onPick(item);
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    if (text.length < 2) { close(); return; }
    timer = setTimeout(async () => {
      const ticket = ++asked;
      try {
        const found = await suggest(text);
        if (ticket === asked && input.value.trim() === text) show(found);
      } catch {
        close();
      }
    }, 200);
  });
  input.addEventListener("keydown", (e) => {
    if (list.hidden) return;
    if (e.key === "ArrowDown") { e.preventDefault(); setActive(Math.min(items.length - 1, active + 1)); }
    else if (e.key === "ArrowUp") { e.preventDefault(); setActive(Math.max(0, active - 1)); }
    else if (e.key === "Enter" && active >= 0) { e.preventDefault(); pick(active); }
    else if (e.key === "Escape") { e.preventDefault(); close(); }
  });
  input.addEventListener("blur", () => setTimeout(close, 100));
  const labelEl = h("label", { for: id, text: label });
  return h("div", { class: "field combo" }, labelEl, input, list);
}
