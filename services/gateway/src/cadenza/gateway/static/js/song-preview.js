// A catalog song with MIDI: its piano roll at once. With its own audio too, that plays under
// the roll's playhead. With only MIDI (the music21 seed, a song added from a .mid),
// "Preview" renders its first PREVIEW_SECONDS with the default SoundFont as an ordinary
// render job (kind "render", the song as input, params as a blend's preview stage uses: no
// stems, mp3) and plays it with the playhead on the roll.
//
// Bounded like any job: the render stops at PREVIEW_SECONDS of music (its CPU budget is the
// account's per-audio-second budget for that much, its output ~0.5 MB of mp3, counted in the
// account's storage), the page waits at most WAIT_S for it, and the same song's preview is
// asked for under one Idempotency-Key, so clicking again (or reopening the song) answers the
// job already made instead of rendering again.

import { fetchBlob, getJson, send } from "./api.js";
import { h } from "./dom.js";
import { MAX_MIDI_BYTES, PianoRoll } from "./piano-roll.js";
import { session } from "./session.js";

export const PREVIEW_SECONDS = 30;
const WAIT_S = 180;
const POLL_MS = 1000;
const FAILED = new Set(["failed", "cancelled"]);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function submitPreview(songId, key) {
  const response = await send("/api/v1/jobs", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": key },
    body: JSON.stringify({
      kind: "render",
      input: { song_id: songId },
      params: { stems: false, preview_seconds: PREVIEW_SECONDS, output: { format: "mp3", quality: 0.6 } },
    }),
  });
  return response.json();
}

/** The song's preview job: the one asked for before, unless it failed or its files expired. */
async function previewJob(songId) {
  const job = await submitPreview(songId, `studio-song-preview-${songId}`);
  if (!FAILED.has(job.status) && !job.artifacts_expired_at) return job;
  return submitPreview(songId, `studio-song-preview-${songId}-${Date.now()}`);
}

async function finished(job, onStatus) {
  for (let waited = 0; waited < WAIT_S * 1000; waited += POLL_MS) {
    if (job.status === "completed") return job;
    if (FAILED.has(job.status)) {
      throw new Error(job.error ? job.error.reason : `the render was ${job.status}`);
    }
    onStatus(`Rendering the preview: ${job.status} ${Math.round((job.progress || 0) * 100)} %`);
    await sleep(POLL_MS);
    job = await getJson(`/api/v1/jobs/${job.id}`);
  }
  throw new Error(`the render took more than ${WAIT_S} s; it goes on as job ${job.id} in the jobs list`);
}

export class SongPreview {
  /** `track(url)` keeps Blob URLs for the catalog browser to revoke. */
  constructor(song, track) {
    this.song = song;
    this.track = track;
    this.roll = new PianoRoll(`${song.title} (MIDI)`);
    this.audio = h("audio", { controls: true, preload: "metadata", hidden: true, aria: { label: `Play ${song.title}` } });
    this.status = h("p", { className: "muted song-preview-status", aria: { live: "polite" } },
      `No audio yet: Preview renders its first ${PREVIEW_SECONDS} s.`);
    this.button = h("button", { type: "button", className: "song-preview-start", onclick: () => this.start() }, `Preview (render ${PREVIEW_SECONDS} s)`);
    this.element = h("div", { className: "song-preview", dataset: { songId: song.id } }, this.button, this.status, this.audio, this.roll.element);
    this.roll.follow(this.audio);
    this.#loadMidi();
    if (song.assets.some((asset) => asset.name === "audio")) this.#ownAudio();
  }

  /** The song's own audio file plays directly; nothing to render. */
  async #ownAudio() {
    this.button.hidden = true;
    this.status.textContent = "";
    this.audio.hidden = false;
    this.element.dataset.state = "ready";
    const url = `/api/v1/songs/${this.song.id}/assets/audio`;
    if (!session.signedIn) {
      this.audio.src = url;
      return;
    }
    try {
      const blobUrl = URL.createObjectURL(await fetchBlob(url));
      this.track(blobUrl);
      this.audio.src = blobUrl;
    } catch (error) {
      this.status.textContent = `Could not load the audio: ${error.message}`;
    }
  }

  async #loadMidi() {
    const midi = this.song.assets.find((asset) => asset.name === "midi");
    if (midi.bytes > MAX_MIDI_BYTES) {
      this.roll.fail("The MIDI is too large to draw here: download it.");
      return;
    }
    try {
      const blob = await fetchBlob(`/api/v1/songs/${this.song.id}/assets/midi`);
      this.roll.show(await blob.arrayBuffer());
    } catch (error) {
      this.roll.fail(`Could not load the MIDI: ${error.message}`);
    }
  }

  async start() {
    this.button.disabled = true;
    this.element.dataset.state = "rendering";
    try {
      const job = await finished(await previewJob(this.song.id), (text) => {
        this.status.textContent = text;
      });
      const artifact = job.artifacts.find((a) => a.name.startsWith("preview."));
      if (!artifact) throw new Error("the render wrote no preview");
      if (session.signedIn) {
        const url = URL.createObjectURL(await fetchBlob(artifact.url));
        this.track(url);
        this.audio.src = url;
      } else {
        this.audio.src = artifact.url;
      }
      this.element.dataset.jobId = job.id;
      this.element.dataset.state = "ready";
      this.audio.hidden = false;
      this.button.hidden = true;
      const whole = (artifact.duration_s || PREVIEW_SECONDS) < PREVIEW_SECONDS;
      this.status.textContent = `Preview: ${whole ? "the whole song" : `its first ${PREVIEW_SECONDS} s`}, rendered with the default SoundFont (job ${job.id}).`;
      // Still inside the click's user activation when the render was reused at once.
      this.audio.play().catch(() => {});
    } catch (error) {
      this.element.dataset.state = "failed";
      this.status.textContent = `No preview: ${error.message}`;
      this.button.disabled = false;
    }
  }
}
