// Numbers, times and durations as the pages show them.

export const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export function isRunning(job) {
  return !TERMINAL.has(job.status);
}

/** Whether the job may still change: running, or finished but its output still being written (finalizing). */
export function isActive(job) {
  return isRunning(job) || job.phase === "finalizing";
}

/** "2026-03-01 14:05:09" in the browser's time zone, or an en dash. */
export function when(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "1 h 05 min", "3 min 20 s", "12 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** Time left until the job's estimated completion, while it runs. */
export function eta(job, now = Date.now()) {
  if (!isRunning(job) || !job.estimated_completion_time) return "–";
  return duration((new Date(job.estimated_completion_time).getTime() - now) / 1000);
}

export function rate(value) {
  if (value === null || value === undefined) return "–";
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} lines/s`;
}

export function count(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

/** Lines finished and total of a job, from request_counts (falling back to lines_done/lines_total). */
export function progress(job) {
  const c = job.request_counts;
  const total = c ? c.total : job.lines_total || 0;
  const done = c ? c.total - c.pending : job.lines_done || 0;
  return { done, total, fraction: total > 0 ? done / total : 0 };
}

export function shortId(id) {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

export function plural(n, word) {
  return `${count(n)} ${word}${n === 1 ? "" : "s"}`;
}
