// The caller's jobs, newest first (GET /api/v1/jobs), a page at a time. A job still under
// way follows the job feed (the WebSocket the progress panel uses), so its row shows the
// same status and progress as the panel, not what the list read when it was loaded.

import { getJson } from "./api.js";
import { byId, formatPercent, formatTime, h } from "./dom.js";

const PAGE = 20;
const ENDED = new Set(["completed", "failed", "cancelled"]);

function kindOf(job) {
  if (job.kind !== "pipeline") return job.kind;
  return `pipeline: ${job.stages.map((s) => s.name).join(" → ")}`;
}

export class JobsList {
  constructor({ live, onOpen }) {
    this.live = live;
    this.onOpen = onOpen;
    this.followed = new Map(); // job id → its feed listener
    this.body = byId("jobs-body");
    this.status = byId("jobs-status");
    this.more = byId("more-jobs");
    this.cursor = null;
    byId("refresh-jobs").addEventListener("click", () => this.refresh());
    this.more.addEventListener("click", () => this.#load(this.cursor));
  }

  refresh() {
    return this.#load(null);
  }

  async #load(cursor) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await getJson(`/api/v1/jobs?${params}`);
      if (!cursor) this.#unfollowAll();
      const rows = page.items.map((job) => this.#row(job));
      if (cursor) this.body.append(...rows);
      else this.body.replaceChildren(...rows);
      for (const job of page.items) if (!ENDED.has(job.status)) this.#follow(job.id);
      this.cursor = page.next_cursor;
      this.more.hidden = !this.cursor;
      const count = this.body.children.length;
      this.status.textContent = count ? `${count} ${count === 1 ? "job" : "jobs"} shown.` : "No jobs yet.";
    } catch (error) {
      this.status.textContent = `Could not load the jobs: ${error.message}`;
    }
  }

  #unfollowAll() {
    for (const [jobId, listener] of this.followed) this.live.unsubscribe(jobId, listener);
    this.followed.clear();
  }

  #follow(jobId) {
    if (this.followed.has(jobId)) return;
    const listener = (message) => this.#update(jobId, message);
    this.followed.set(jobId, listener);
    this.live.subscribe(jobId, listener);
  }

  /** A feed message for a listed job: its status and whole-job progress, never backwards. */
  #update(jobId, message) {
    const row = this.body.querySelector(`tr[data-job-id="${CSS.escape(jobId)}"]`);
    if (!row) return;
    const status = message.status;
    const progress = message.type === "job.snapshot" ? message.progress : message.job_progress;
    if (typeof status === "string" && status !== row.dataset.status) {
      row.dataset.status = status;
      row.querySelector(".job-status").textContent = status;
    }
    const bar = row.querySelector("progress");
    if (typeof progress === "number" && progress > Number(bar.value)) bar.value = progress;
    if (status === "completed") bar.value = 1;
    row.querySelector(".job-percent").textContent = formatPercent(Number(bar.value));
    if (ENDED.has(status)) {
      this.live.unsubscribe(jobId, this.followed.get(jobId));
      this.followed.delete(jobId);
    }
  }

  #row(job) {
    const started = formatTime(job.created_at);
    const bar = h("progress", { max: 1, value: job.progress, aria: { label: `Progress of the ${job.kind} job started ${started}` } });
    // data-label names each cell where a narrow screen shows rows as cards (studio.css).
    return h(
      "tr",
      { dataset: { jobId: job.id, status: job.status } },
      h("td", { dataset: { label: "Started" } }, h("time", { dateTime: job.created_at }, started)),
      h("td", { dataset: { label: "Kind" } }, kindOf(job)),
      h("td", { className: "job-status", dataset: { label: "Status" } }, job.status),
      h("td", { dataset: { label: "Progress" } }, bar, " ", h("span", { className: "job-percent" }, formatPercent(job.progress))),
      h(
        "td",
        { className: "job-actions" },
        h(
          "button",
          {
            type: "button",
            aria: { label: `Open the ${job.kind} job started ${started}` },
            onclick: () => this.onOpen(job.id),
          },
          "Open",
        ),
      ),
    );
  }
}
