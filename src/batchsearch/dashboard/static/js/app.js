// The dashboard shell: hash routes, sign-in guard, navigation and each page's teardown (its polling).

import { session, whenUnauthorized } from "./api.js";
import { h, replace } from "./dom.js";
import { renderSignIn } from "./pages/signin.js";
import { renderJobs } from "./pages/jobs.js";
import { renderNewBatch } from "./pages/newbatch.js";
import { renderJob } from "./pages/job.js";
import { renderSearch } from "./pages/search.js";
import { renderKg } from "./pages/kg.js";

const ROUTES = [
  { pattern: /^#\/jobs\/([^/?]+)$/, nav: "jobs", title: "Job", render: (main, [id]) => renderJob(main, decodeURIComponent(id)) },
  { pattern: /^#\/jobs$/, nav: "jobs", title: "Jobs", render: (main) => renderJobs(main) },
  { pattern: /^#\/new$/, nav: "new", title: "New batch", render: (main) => renderNewBatch(main) },
  { pattern: /^#\/search$/, nav: "search", title: "Search playground", render: (main) => renderSearch(main) },
  { pattern: /^#\/kg$/, nav: "kg", title: "Knowledge graph", render: (main) => renderKg(main) },
];

let teardown = null;
let signInReason = null;

function route() {
  const main = document.getElementById("main");
  if (teardown) teardown();
  teardown = null;
  const hash = window.location.hash || "#/jobs";
  const signedIn = Boolean(session.key());
  document.getElementById("nav").hidden = !signedIn;
  if (!signedIn || hash === "#/signin") {
    document.title = "Sign in · batchsearch";
    markNav(null);
    const next = hash === "#/signin" ? "#/jobs" : hash;
    teardown = renderSignIn(main, next, signInReason);
    signInReason = null;
    return;
  }
  const found = ROUTES.map((r) => [r, hash.match(r.pattern)]).find(([, m]) => m);
  if (!found) {
    replace(main, h("h1", { text: "Not found" }), h("p", {}, "No such page. ", h("a", { href: "#/jobs", text: "Back to the jobs" })));
    return;
  }
  const [page, match] = found;
  document.title = `${page.title} · batchsearch`;
  markNav(page.nav);
  replace(main);
  teardown = page.render(main, match.slice(1)) || null;
}

function markNav(current) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function signOut(reason) {
  session.signOut();
  signInReason = reason || null;
  if (window.location.hash === "#/signin") route();
  else window.location.hash = "#/signin";
}

document.getElementById("sign-out").addEventListener("click", () => signOut(null));
whenUnauthorized((error) => signOut(`Signed out: ${error.message}`));
window.addEventListener("hashchange", route);
route();
