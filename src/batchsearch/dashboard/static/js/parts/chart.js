// The throughput chart: lines per second over time, from successive status polls (uPlot, vendored).

import uPlot from "../../vendor/uplot/uPlot.esm.js";
import { h } from "../dom.js";

/** Samples {t (ms), done} of each job seen in this tab, so the chart survives leaving and reopening the page. */
const histories = new Map();

/** Record a poll of `job`; a job first seen finished gets its start and end as the two samples. */
export function record(job) {
  let samples = histories.get(job.batch_id);
  if (!samples) {
    samples = [];
    histories.set(job.batch_id, samples);
    if (job.started_at) samples.push({ t: Date.parse(job.started_at), done: 0 });
  }
  const done = job.request_counts ? job.request_counts.total - job.request_counts.pending : job.lines_done || 0;
  const t = job.completed_at ? Date.parse(job.completed_at) : Date.now();
  const last = samples[samples.length - 1];
  if (!last || t > last.t) samples.push({ t, done });
  return samples;
}

/** The rate between successive samples, as [times (s), lines/s]. */
export function rates(samples) {
  const xs = [];
  const ys = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = (samples[i].t - samples[i - 1].t) / 1000;
    if (dt <= 0) continue;
    if (xs.length === 0) { xs.push(samples[i - 1].t / 1000); ys.push((samples[i].done - samples[i - 1].done) / dt); }
    xs.push(samples[i].t / 1000);
    ys.push((samples[i].done - samples[i - 1].done) / dt);
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
      ? "Lines per second between status polls; the chart fills in every 2 s while the job runs."
      : "Lines per second between status polls.";
    if (!plot) {
      plot = new uPlot({
        width: width(), height: 220, legend: { show: false }, cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [{ stroke: "#4a5568" }, { stroke: "#4a5568", label: "lines/s", size: 60 }],
        series: [{}, { label: "lines/s", stroke: "#1f4e8c", width: 2, fill: "rgba(31, 78, 140, 0.12)", paths: uPlot.paths.stepped({ align: 1 }) }],
      }, data, canvasBox);
    } else {
      plot.setData(data);
    }
  }

  return { update, destroy: () => { window.removeEventListener("resize", onResize); if (plot) plot.destroy(); } };
}
