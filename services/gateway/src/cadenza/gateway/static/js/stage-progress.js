// One progress bar per stage of the current job. Bars only move forward: the gateway never
// sends a step back, and a late snapshot after a reconnect must not undo a newer event.

import { announce, formatPercent, h } from "./dom.js";

const STATUS_WORDS = {
  queued: "waiting",
  running: "running",
  completed: "done",
  failed: "failed",
  cancelled: "cancelled",
};

export class StageList {
  constructor(list) {
    this.list = list;
    this.rows = new Map(); // stage name → {row, bar, text, status}
  }

  /** Start over with these stages ([{name, status, progress}]). */
  reset(stages) {
    this.rows.clear();
    this.list.replaceChildren();
    for (const stage of stages) {
      const id = `stage-progress-${stage.name.replace(/[^\w-]/g, "_")}`;
      const bar = h("progress", { id, max: 1, value: 0 });
      const text = h("span", { className: "stage-text" });
      const row = h(
        "li",
        { className: "stage", dataset: { stage: stage.name, status: "queued" } },
        h("label", { htmlFor: id }, stage.name),
        bar,
        text,
      );
      this.list.append(row);
      this.rows.set(stage.name, { row, bar, text, status: "queued" });
      this.update(stage.name, stage.status, stage.progress, { quiet: true });
    }
  }

  /** Show a stage's status and progress; `quiet` skips the screen-reader announcement. */
  update(name, status, progress, { quiet = false } = {}) {
    const entry = this.rows.get(name);
    if (!entry) return;
    const value = Math.max(Number(entry.bar.value) || 0, Math.min(Math.max(progress ?? 0, 0), 1));
    entry.bar.value = status === "completed" ? 1 : value;
    const shown = Number(entry.bar.value);
    const words = STATUS_WORDS[status] || status;
    entry.text.textContent = status === "running" ? `${words} ${formatPercent(shown)}` : words;
    entry.bar.setAttribute("aria-valuetext", `${formatPercent(shown)}, ${words}`);
    entry.row.dataset.status = status;
    if (!quiet && status !== entry.status) announce(`${name}: ${words}`);
    entry.status = status;
  }

  status(name) {
    return this.rows.get(name)?.status;
  }
}
