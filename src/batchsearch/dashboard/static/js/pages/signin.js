// Sign in with an API key: checked against the API before it is kept (sessionStorage only).

import { api, session } from "../api.js";
import { field, h, notice, replace } from "../dom.js";

export function renderSignIn(main, next, reason) {
  const input = h("input", { type: "password", name: "api-key", autocomplete: "off", spellcheck: "false",
    required: true, "data-testid": "api-key-input" });
  const button = h("button", { type: "submit", class: "primary", "data-testid": "sign-in", text: "Sign in" });
  const message = h("div", { class: "message-slot" }, reason ? notice("info", reason) : null);
  const form = h("form", { class: "card narrow", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", text: "Sign in" }),
    h("p", { class: "muted" }, "Use an API key of this server (", h("code", { text: "batchsearch keys create" }),
      "). It stays in this browser tab only and is sent only in the X-API-KEY header."),
    field("API key", input),
    h("div", { class: "actions" }, button),
    message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    replace(message, notice("info", "Checking the key…"));
    try {
      await api("/v1/search/batches", { query: { limit: 1 }, key });
      session.signIn(key);
      input.value = "";
      if (window.location.hash === next) window.dispatchEvent(new HashChangeEvent("hashchange"));
      else window.location.hash = next;
    } catch (error) {
      replace(message, notice("error", error.message));
      button.disabled = false;
      input.focus();
    }
  });
  replace(main, form);
  input.focus();
  return null;
}
