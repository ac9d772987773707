// Small pieces of a job shown on several pages: status badge, progress bar, polling loop.

import { h } from "../dom.js";
import { count, progress } from "../format.js";

export const POLL_MS = 2000;

export function statusBadge(status, testid = "job-status") {
  return h("span", { class: `badge status-${status}`, "data-testid": testid, text: status });
}

/** A native <progress> (accessible by default) with "done / total" beside it. */
export function progressBar(job, label) {
  const { done, total } = progress(job);
  const bar = h("progress", { max: Math.max(total, 1), value: done, "aria-label": label });
  return h("span", { class: "progress" }, bar, h("span", { class: "progress-text", text: `${count(done)} / ${count(total)}` }));
}

/** Run `tick` now and every POLL_MS while `shouldContinue()` holds; returns a stop function. */
export function poll(tick, shouldContinue) {
  let timer = null;
  let stopped = false;
  const loop = async () => {
    timer = null;
    if (stopped) return;
    try {
      await tick();
    } finally {
      if (!stopped && shouldContinue()) timer = setTimeout(loop, POLL_MS);
    }
  };
  const kick = () => {
    if (!stopped && timer === null) timer = setTimeout(loop, POLL_MS);
  };
  loop();
  return { stop: () => { stopped = true; clearTimeout(timer); }, kick };
}
