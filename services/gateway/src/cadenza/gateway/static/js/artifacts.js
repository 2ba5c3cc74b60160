// A job's results: per artifact a player (audio), a waveform and a download link.
//
// Without a session (development mode) the elements point at the API's URLs, so audio
// streams with Range requests. Signed in, the API wants an Authorization header, which
// <audio> and <a> cannot send: the bytes are fetched with it into a Blob, and the player,
// the waveform and the link all use that one Blob URL.
//
// Each artifact of the job on screen is fetched once: the player, its waveform, its link and
// the stem mixer all ask `artifactBlob` for it, which keeps the Blob's promise until the job
// on screen changes (or whoever is signed in does).

import { fetchBlob } from "./api.js";
import { formatBytes, formatSeconds, h } from "./dom.js";
import { session } from "./session.js";
import { drawWaveform } from "./waveform.js";
import { withPlayhead } from "./waveform-playhead.js";

const PLAYABLE = /^audio\/(wav|x-wav|wave|flac|x-flac|mpeg|mp3|ogg|webm)$/;
// Decoding holds the whole file as 32-bit samples in memory: a picture is not worth more.
const WAVEFORM_MAX_BYTES = 64 * 1024 * 1024;
// Signed in, playing means holding the whole file in memory as a Blob; past this, download.
const PLAYER_BLOB_MAX_BYTES = 512 * 1024 * 1024;

// URL → promise of its Blob, for the job on screen, fetched as `blobsOf` (the email signed
// in, "" in development mode): a Blob one account fetched is never handed to another.
let blobs = new Map();
let blobsOf = "";

/** The artifact's bytes, fetched once while its job is on screen (a failure is not kept). */
export function artifactBlob(url) {
  const who = session.email || "";
  if (who !== blobsOf) forgetArtifactBlobs();
  blobsOf = who;
  let blob = blobs.get(url);
  if (!blob) {
    blob = fetchBlob(url);
    blobs.set(url, blob);
    const kept = blobs;
    blob.catch(() => {
      if (kept.get(url) === blob) kept.delete(url);
    });
  }
  return blob;
}

/** Another job is shown: what was fetched for the last one is let go. */
export function forgetArtifactBlobs() {
  blobs = new Map();
}

export function isPlayable(artifact) {
  return PLAYABLE.test(artifact.media_type);
}

function describe(artifact) {
  const facts = [artifact.media_type, formatBytes(artifact.bytes)];
  if (artifact.duration_s) facts.push(formatSeconds(artifact.duration_s));
  if (artifact.sample_rate) facts.push(`${artifact.sample_rate} Hz`);
  if (artifact.channels) facts.push(artifact.channels === 1 ? "mono" : artifact.channels === 2 ? "stereo" : `${artifact.channels} channels`);
  return facts.join(" · ");
}

/**
 * A download link; signed in, the first click fetches the bytes with credentials (through
 * `fetchIt`: a job's artifact through `artifactBlob`).
 */
export function downloadLink(url, filename, track, fetchIt = fetchBlob) {
  const link = h(
    "a",
    { className: "button", href: url, download: filename, dataset: { download: filename } },
    "Download ",
    h("span", { className: "visually-hidden" }, filename),
  );
  if (session.signedIn) {
    link.addEventListener("click", async (event) => {
      if (link.dataset.blob) return; // already a Blob URL: let the browser save it
      event.preventDefault();
      link.setAttribute("aria-busy", "true");
      try {
        const blobUrl = URL.createObjectURL(await fetchIt(url));
        track(blobUrl);
        link.href = blobUrl;
        link.dataset.blob = "true";
        link.click();
      } finally {
        link.removeAttribute("aria-busy");
      }
    });
  }
  return link;
}

export class ArtifactList {
  constructor(list, heading) {
    this.list = list;
    this.heading = heading;
    this.objectUrls = [];
    this.generation = 0;
  }

  clear() {
    this.generation += 1; // loads still in flight for the old list are dropped
    for (const url of this.objectUrls) URL.revokeObjectURL(url);
    this.objectUrls = [];
    forgetArtifactBlobs();
    this.list.replaceChildren();
    this.heading.hidden = true;
  }

  show(artifacts) {
    this.clear();
    this.heading.hidden = artifacts.length === 0;
    for (const artifact of artifacts) this.list.append(this.#card(artifact));
  }

  #track = (url) => {
    this.objectUrls.push(url);
  };

  #card(artifact) {
    const slug = artifact.name.replace(/[^\w-]/g, "_");
    const titleId = `artifact-${slug}-title`;
    const link = downloadLink(artifact.url, artifact.name, this.#track, artifactBlob);
    const card = h(
      "li",
      { className: "artifact", dataset: { artifact: artifact.name } },
      h("h4", { id: titleId }, artifact.name),
      h("p", { className: "muted" }, describe(artifact)),
    );
    if (!isPlayable(artifact)) {
      card.append(link);
      return card;
    }
    const audio = h("audio", { controls: true, preload: "metadata", aria: { labelledby: titleId } });
    const canvas = h(
      "canvas",
      { className: "waveform", role: "img", aria: { label: `Waveform of ${artifact.name}` } },
      `Waveform of ${artifact.name}`,
    );
    const note = h("p", { className: "muted waveform-note" }, "Loading…");
    card.append(audio, withPlayhead(audio, canvas), note, link);
    this.#load(artifact, { audio, canvas, note, link });
    return card;
  }

  async #load(artifact, { audio, canvas, note, link }) {
    const generation = this.generation;
    const current = () => generation === this.generation;
    try {
      let blob = null;
      if (session.signedIn && artifact.bytes > PLAYER_BLOB_MAX_BYTES) {
        audio.remove();
        canvas.parentElement.remove(); // with its playhead
        note.textContent = "Too large to play in the page: download it.";
        return;
      }
      if (session.signedIn) {
        blob = await artifactBlob(artifact.url);
        if (!current()) return;
        const blobUrl = URL.createObjectURL(blob);
        this.#track(blobUrl);
        audio.src = blobUrl;
        link.href = blobUrl;
        link.dataset.blob = "true";
      } else {
        audio.src = artifact.url;
      }
      if (artifact.bytes > WAVEFORM_MAX_BYTES) {
        note.textContent = "Too long to draw its waveform here.";
        return;
      }
      note.textContent = "Drawing the waveform…";
      const bytes = await (blob || (await artifactBlob(artifact.url))).arrayBuffer();
      if (!current()) return;
      const peakDb = await drawWaveform(canvas, bytes);
      if (!current()) return;
      const peak = Number.isFinite(peakDb) ? `peak ${peakDb.toFixed(1)} dBFS` : "silent";
      canvas.setAttribute("aria-label", `Waveform of ${artifact.name}, ${peak}`);
      canvas.dataset.drawn = "true";
      note.textContent = `Waveform: ${peak}.`;
    } catch (error) {
      if (current()) note.textContent = `Could not load it: ${error.message}`;
    }
  }
}
