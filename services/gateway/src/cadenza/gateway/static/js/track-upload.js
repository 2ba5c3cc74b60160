// The track to work on: dropped on the zone or chosen with the file input, uploaded at
// once (with a progress bar) so the job can start as soon as it is asked for.

import { uploadFile } from "./api.js";
import { byId, formatBytes, formatSeconds } from "./dom.js";

function hasFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes("Files");
}

export class TrackUpload {
  constructor() {
    this.zone = byId("drop-zone");
    this.input = byId("file-input");
    this.bar = byId("upload-progress");
    this.status = byId("upload-status");
    this.upload = null;
    this.pending = null;
    this.input.addEventListener("change", () => {
      if (this.input.files.length) this.start(this.input.files[0]);
    });
    this.zone.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      this.zone.classList.add("dragging");
    });
    this.zone.addEventListener("dragleave", () => this.zone.classList.remove("dragging"));
    this.zone.addEventListener("drop", (event) => {
      event.preventDefault();
      this.zone.classList.remove("dragging");
      const file = event.dataTransfer?.files?.[0];
      if (file) this.start(file);
    });
    // A file dropped just beside the zone must not replace the page with the file.
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (event) => {
        if (hasFiles(event) && !this.zone.contains(event.target)) event.preventDefault();
      });
    }
  }

  start(file) {
    this.upload = null;
    this.bar.value = 0;
    this.status.textContent = `Uploading ${file.name} (${formatBytes(file.size)})…`;
    // Into the project chosen for the job, if any: its members can then hear the original.
    const project = document.getElementById("job-project")?.value || "";
    this.pending = uploadFile(file, (fraction) => {
      this.bar.value = fraction;
    }, project).then(
      (upload) => {
        this.upload = upload;
        const channels = upload.channels === 1 ? "mono" : upload.channels === 2 ? "stereo" : `${upload.channels} channels`;
        this.status.textContent = `Uploaded ${upload.filename}: ${formatSeconds(upload.duration_s)}, ${upload.sample_rate} Hz, ${channels}, ${formatBytes(upload.bytes)}.`;
        this.status.dataset.uploadId = upload.id;
        return upload;
      },
      (error) => {
        this.bar.value = 0;
        this.status.textContent = `${file.name} was not accepted: ${error.message}`;
        delete this.status.dataset.uploadId;
        return null;
      },
    );
    return this.pending;
  }

  /** The uploaded track (waiting for an upload in progress), or null. */
  async current() {
    return this.pending ? this.pending : this.upload;
  }
}
