// The transport bar's display: the watched job's kind, status and progress, always in view
// (the header stays on screen), and a link to its panel. It reads what the progress panel
// shows (#job-summary's data-status, #job-progress), so it can never disagree with it.

import { byId, formatPercent } from "./dom.js";

export function showWatchedJobInTransport() {
  const display = byId("transport-display");
  const summary = byId("job-summary");
  const bar = byId("job-progress");
  const render = () => {
    const status = summary.dataset.status;
    display.hidden = !status;
    if (!status) return;
    display.dataset.status = status;
    byId("transport-kind").textContent = summary.dataset.kind || "job";
    byId("transport-status").textContent = status;
    byId("transport-percent").textContent = formatPercent(Number(bar.value));
  };
  const observer = new MutationObserver(render);
  observer.observe(summary, { attributes: true, attributeFilter: ["data-status", "data-job-id", "data-kind"] });
  observer.observe(bar, { attributes: true, attributeFilter: ["value"] });
  render();
}
