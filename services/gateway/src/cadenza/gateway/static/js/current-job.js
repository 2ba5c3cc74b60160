// The job being watched: its stages' progress live over the WebSocket, then its results.

import { getJson, postJson } from "./api.js";
import { ArtifactList, isPlayable } from "./artifacts.js";
import { announce, byId, formatPercent, formatTime } from "./dom.js";
import { JobListening } from "./job-listening.js";
import { stageDetails } from "./stage-details.js";
import { StageList } from "./stage-progress.js";
import { StemMixer } from "./stem-mixer.js";

const ENDED = new Set(["completed", "failed", "cancelled"]);

function describeKind(job) {
  if (job.kind === "pipeline") {
    const stages = job.stages.map((s) => s.name).join(" → ");
    return `pipeline (${stages})`;
  }
  return job.kind;
}

/** The job's artifacts, what it was for first: in a pipeline, files of earlier stages
 * carry their stage as a prefix (`separation-vocals.wav`), the final ones do not; among
 * them what can be heard (a blend's preview) before the files. */
function finalFirst(job) {
  const prefixes = job.stages.map((stage) => `${stage.name}-`);
  const intermediate = (artifact) => prefixes.some((prefix) => artifact.name.startsWith(prefix));
  return [...(job.artifacts || [])].sort(
    (a, b) =>
      intermediate(a) - intermediate(b) ||
      isPlayable(b) - isPlayable(a) ||
      a.name.localeCompare(b.name),
  );
}

export class CurrentJob {
  constructor(live, { onEnded = () => {} } = {}) {
    this.live = live;
    this.onEnded = onEnded;
    this.job = null;
    this.finished = null; // id of the job whose end was already handled
    this.stages = new StageList(byId("stages"));
    this.artifacts = new ArtifactList(byId("artifacts"), byId("results-title"));
    this.mixer = new StemMixer(byId("results-title"));
    this.listening = new JobListening(byId("artifacts"));
    this.summary = byId("job-summary");
    this.overall = byId("job-overall");
    this.overallBar = byId("job-progress");
    this.overallText = byId("job-progress-text");
    this.error = byId("job-error");
    this.details = byId("stage-details");
    this.cancelButton = byId("cancel-job");
    this.cancelButton.addEventListener("click", () => this.cancel());
    this.listener = (message) => this.#handle(message);
  }

  /** Watch a job: a JobView from the API, or its id. */
  async open(jobOrId) {
    const job = typeof jobOrId === "string" ? await getJson(`/api/v1/jobs/${jobOrId}`) : jobOrId;
    if (this.job && this.job.id !== job.id) this.live.unsubscribe(this.job.id, this.listener);
    this.job = structuredClone(job);
    this.stages.reset(job.stages);
    this.artifacts.clear();
    this.mixer.clear();
    this.listening.clear();
    this.details.replaceChildren();
    this.overallBar.value = 0;
    this.#render();
    if (ENDED.has(job.status)) {
      this.#showResults();
    } else {
      this.live.subscribe(job.id, this.listener);
    }
  }

  async cancel() {
    if (!this.job) return;
    this.cancelButton.disabled = true;
    try {
      await postJson(`/api/v1/jobs/${this.job.id}/cancel`, {});
      announce("Cancelling the job");
    } catch (error) {
      this.error.textContent = error.message;
    } finally {
      this.cancelButton.disabled = false;
    }
  }

  #stage(name) {
    return this.job.stages.find((s) => s.name === name);
  }

  #handle(message) {
    const job = this.job;
    if (!job || message.job_id !== job.id) return;
    switch (message.type) {
      case "job.snapshot":
        this.job = { ...structuredClone(message), id: job.id };
        delete this.job.type;
        for (const stage of this.job.stages) this.stages.update(stage.name, stage.status, stage.progress);
        this.#showDetails();
        break;
      case "job.progress":
      case "stage.progress":
        this.#progress(message.stage, "running", message.progress);
        break;
      case "stage.started":
        this.#progress(message.stage, "running", 0);
        break;
      case "job.stage_completed":
      case "stage.completed":
        this.#stageDone(message.stage, message.details);
        break;
      case "job.completed":
        this.#stageDone(message.stage, message.details);
        job.status = "completed";
        break;
      case "job.failed":
        job.status = "failed";
        job.error = message.error;
        if (message.stage) this.#progress(message.stage, "failed", null);
        break;
      case "job.cancelled":
        job.status = "cancelled";
        job.error = message.error;
        break;
      case "error":
        this.error.textContent = message.message;
        break;
      default:
        return; // project.* repeat what job.* already said
    }
    if (message.status) this.job.status = message.status;
    if (typeof message.job_progress === "number") this.job.progress = message.job_progress;
    this.#render();
    if (ENDED.has(this.job.status)) this.#finish();
  }

  #progress(name, status, progress) {
    const stage = this.#stage(name);
    if (!stage) return;
    if (stage.status !== "completed") stage.status = status;
    if (typeof progress === "number") stage.progress = Math.max(stage.progress, progress);
    this.stages.update(name, stage.status, stage.progress);
  }

  #stageDone(name, details) {
    const stage = this.#stage(name);
    if (!stage) return;
    stage.status = "completed";
    stage.progress = 1;
    if (details && Object.keys(details).length) stage.details = details;
    this.stages.update(name, "completed", 1);
    this.#showDetails();
  }

  async #finish() {
    const id = this.job.id;
    // A late subscriber hears the end twice (the snapshot, then the final event).
    if (this.finished === id) return;
    this.finished = id;
    this.live.unsubscribe(id, this.listener);
    announce(`Job ${this.job.status}`);
    try {
      // The stored job has every stage's details and the full list of artifacts.
      const stored = await getJson(`/api/v1/jobs/${id}`);
      if (!this.job || this.job.id !== id) return;
      this.job = stored;
      for (const stage of stored.stages) this.stages.update(stage.name, stage.status, stage.progress, { quiet: true });
      this.#render();
    } catch (error) {
      this.error.textContent = error.message;
    }
    this.#showResults();
    this.onEnded(this.job);
  }

  #render() {
    const job = this.job;
    const started = job.created_at ? `, started ${formatTime(job.created_at)}` : "";
    this.summary.textContent = `${describeKind(job)} job ${job.id}${started}: ${job.status}`;
    this.summary.dataset.status = job.status;
    this.summary.dataset.jobId = job.id;
    this.summary.dataset.kind = job.kind;
    this.overall.hidden = job.stages.length < 2;
    this.overallBar.value = Math.max(Number(this.overallBar.value) || 0, job.progress || 0);
    if (job.status === "completed") this.overallBar.value = 1;
    this.overallText.textContent = formatPercent(Number(this.overallBar.value));
    this.cancelButton.hidden = ENDED.has(job.status);
    this.error.textContent = job.error ? `${job.error.stage ? `${job.error.stage}: ` : ""}${job.error.reason}` : "";
  }

  #showDetails() {
    this.details.replaceChildren(...this.job.stages.map(stageDetails).filter(Boolean));
  }

  #showResults() {
    this.#showDetails();
    this.artifacts.show(finalFirst(this.job));
    this.mixer.show(this.job);
    this.listening.show(this.job);
    if (this.job.artifacts_expired_at) {
      this.error.textContent = "Retention removed this job's files; pin a job to keep them.";
    }
  }
}
