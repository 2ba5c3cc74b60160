// The caller's jobs, newest first (GET /api/v1/jobs), a page at a time.

import { getJson } from "./api.js";
import { byId, formatPercent, formatTime, h } from "./dom.js";

const PAGE = 20;

function kindOf(job) {
  if (job.kind !== "pipeline") return job.kind;
  return `pipeline: ${job.stages.map((s) => s.name).join(" → ")}`;
}

export class JobsList {
  constructor({ onOpen }) {
    this.onOpen = onOpen;
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
      const rows = page.items.map((job) => this.#row(job));
      if (cursor) this.body.append(...rows);
      else this.body.replaceChildren(...rows);
      this.cursor = page.next_cursor;
      this.more.hidden = !this.cursor;
      const count = this.body.children.length;
      this.status.textContent = count ? `${count} ${count === 1 ? "job" : "jobs"} shown.` : "No jobs yet.";
    } catch (error) {
      this.status.textContent = `Could not load the jobs: ${error.message}`;
    }
  }

  #row(job) {
    const started = formatTime(job.created_at);
    const bar = h("progress", { max: 1, value: job.progress, aria: { label: `Progress of the ${job.kind} job started ${started}` } });
    return h(
      "tr",
      { dataset: { jobId: job.id, status: job.status } },
      h("td", {}, h("time", { dateTime: job.created_at }, started)),
      h("td", {}, kindOf(job)),
      h("td", { className: "job-status" }, job.status),
      h("td", {}, bar, " ", formatPercent(job.progress)),
      h(
        "td",
        {},
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
