// The throughput chart: lines per second over time, from successive status polls (uPlot, vendored).

import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { h } from "../dom.js";
import { isActive, isRunning } from "../format.js";

/** Samples {t (ms), done} of each job seen in this tab, so the chart survives leaving and reopening the page. */
const histories = new Map();

/** Record a poll of `job`. Samples of a job watched while it runs use this browser's clock only; a job first
 * seen finished gets two samples from the server's clock (its start and its end), never a mix of both. */
export function record(job) {
  const done = job.request_counts ? job.request_counts.total - job.request_counts.pending : job.lines_done || 0;
  let samples = histories.get(job.batch_id);
  if (!samples) {
    samples = [];
    histories.set(job.batch_id, samples);
    if (!isRunning(job) && job.started_at && job.completed_at) {
      samples.push({ t: Date.parse(job.started_at), done: 0 }, { t: Date.parse(job.completed_at), done });
      return samples;
    }
  }
  const last = samples[samples.length - 1];
  const now = Date.now();
  if (!last || (now > last.t && (isActive(job) || last.done !== done))) samples.push({ t: now, done });
  return samples;
}

/** The rate between successive samples, as [seconds since the first sample, lines/s]. */
export function rates(samples) {
  const xs = [];
  const ys = [];
  const origin = samples.length ? samples[0].t : 0;
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].t - samples[i - 1].t) / 1000;
    if (dt <= 0) continue;
    const perSecond = (samples[i].done - samples[i - 1].done) / dt;
    if (xs.length === 0) { xs.push((samples[i - 1].t - origin) / 1000); ys.push(perSecond); }
    xs.push((samples[i].t - origin) / 1000);
    ys.push(perSecond);
  }
  return [xs, ys];
}

/** A chart in `box` that `update(samples)` redraws; sized to the box and resized with the window. */
export function throughputChart(box) {
  const canvasBox = h("div", { class: "chart" });
  const caption = h("p", { class: "muted small" });
  box.append(canvasBox, caption);
  let plot = null;
  const width = () => Math.max(260, canvasBox.clientWidth || box.clientWidth || 600);
  const onResize = () => plot && plot.setSize({ width: width(), height: 220 });
  window.addEventListener("resize", onResize);

  function update(samples) {
    const data = rates(samples);
    caption.textContent = data[0].length < 3
      ? "Lines per second between status polls: the chart fills in every 2 s while this page watches a running job."
      : "Lines per second between status polls.";
    if (!plot) {
      plot = new uPlot({
        width: width(), height: 220, legend: { show: false }, cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [{ stroke: "#4a5568", label: "seconds since first sample", values: (u, ticks) => ticks.map((t) => `${Number.isInteger(t) ? t : t.toFixed(1)} s`) },
          { stroke: "#4a5568", label: "lines/s", size: 60 }],
        series: [{}, { label: "lines/s", stroke: "#1f4e8c", width: 2, fill: "rgba(31, 78, 140, 0.12)", paths: uPlot.paths.stepped({ align: 1 }) }],
      }, data, canvasBox);
    } else {
      plot.setData(data);
    }
  }

  return { update, destroy: () => { window.removeEventListener("resize", onResize); if (plot) plot.destroy(); } };
}
