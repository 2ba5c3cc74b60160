// Stems as a mixer: after a separation (or a render with stems) the stems play together in
// one transport, with a volume, solo and mute per stem, a shared waveform of what is heard
// with a playhead, "download this mix" (rendered offline, saved as WAV) and A/B against the
// original track, at the same position, with one key.
//
// Every stem is fetched with the page's credentials (api.js follows a signed S3 redirect),
// once: the result list's players ask for the same Blob (artifacts.js, artifactBlob); and
// decoded at the stems' own sample rate, so that the mix heard and the mix saved are
// the same samples as the stems added up at their gains.

import { getJson } from "./api.js";
import { artifactBlob, isPlayable } from "./artifacts.js";
import { announce, formatSeconds, h } from "./dom.js";
import { effectiveGains, renderMix, wavOfBuffer } from "./mix-graph.js";
import { MixTransport } from "./mix-transport.js";

// Past a mix's largest stage these would be the final files, not stems.
const NOT_STEMS = /^(mix|mastered|processed|preview)\.[^.]+$/;
// As many stems as a mix stage takes (contracts/render.py MAX_STEMS).
const MAX_STEMS = 32;
// Decoded, every stem and the original are held as 32-bit samples: past this, the page
// would hold too much; the stems can still be downloaded one by one.
const MAX_DECODED_BYTES = 512 * 1024 * 1024;
const DEFAULT_RATE = 48000;
const VOLUME_MAX_PERCENT = 150;

let current = null;

/** The mixer on the page now (null when none): the tests drive its graph offline. */
export function currentMixer() {
  return current;
}

function baseName(name, stages) {
  const stage = stages.find((s) => name.startsWith(`${s}-`));
  return { stage: stage || "", base: stage ? name.slice(stage.length + 1) : name };
}

/**
 * A job's stems, if it has at least two: the playable artifacts that are not a final mix,
 * of one stage (a pipeline keeps each stage's files under its name as a prefix; the group
 * with most stems wins). And the original to compare with:
 * the uploaded input, else the job's own mix.
 */
export function stemsOf(job) {
  const stages = (job.stages || []).map((s) => s.name);
  const groups = new Map();
  const mixes = new Map();
  for (const artifact of (job.artifacts || []).filter(isPlayable)) {
    const { stage, base } = baseName(artifact.name, stages);
    const target = NOT_STEMS.test(base) ? mixes : groups;
    if (!target.has(stage)) target.set(stage, []);
    target.get(stage).push({ artifact, label: base.replace(/\.[^.]+$/, "") });
  }
  // On a tie the later stage wins (a remix's processed stems over its raw ones): those
  // are what its mix stage mixed. The final files come after every stage.
  const order = (stage) => (stage === "" ? stages.length : stages.indexOf(stage));
  let chosen = null;
  for (const [stage, stems] of groups) {
    if (stems.length < 2) continue;
    const better = !chosen || stems.length > chosen.stems.length
      || (stems.length === chosen.stems.length && order(stage) > order(chosen.stage));
    if (better) chosen = { stage, stems };
  }
  if (!chosen) return null;
  chosen.stems.sort((a, b) => a.label.localeCompare(b.label));
  const uploadId = job.input && job.input.upload_id;
  let original = null;
  if (uploadId) {
    const upload = `/api/v1/uploads/${encodeURIComponent(uploadId)}`;
    original = { url: `${upload}/content`, metadata: upload, label: "the uploaded track" };
  } else {
    const mix = (mixes.get(chosen.stage) || []).find((m) => m.label === "mix");
    if (mix) original = { url: mix.artifact.url, label: mix.artifact.name, artifact: mix.artifact };
  }
  return { stems: chosen.stems.slice(0, MAX_STEMS), original, tooMany: chosen.stems.length > MAX_STEMS };
}

function decodedBytes(artifact, sampleRate) {
  if (artifact.duration_s && artifact.channels) return artifact.duration_s * sampleRate * artifact.channels * 4;
  return artifact.bytes * 12; // compressed audio decodes to about this much more, or less
}

async function decode(url, sampleRate) {
  const bytes = await (await artifactBlob(url)).arrayBuffer();
  // An offline context needs no user gesture, plays nothing, and decodes at its rate.
  return new OfflineAudioContext(1, 1, sampleRate).decodeAudioData(bytes);
}

function decibelText(percent) {
  if (percent <= 0) return "silent";
  const db = 20 * Math.log10(percent / 100);
  return `${db >= 0 ? "+" : "−"}${Math.abs(db).toFixed(1)} dB`;
}

function percentText(percent) {
  return `${percent} % (${decibelText(percent)})`;
}

/** The volume as shown: the percentage, and its dB (which narrow screens leave out). */
function showVolume(output, percent) {
  output.replaceChildren(`${percent} %`, h("span", { className: "mixer-db" }, ` (${decibelText(percent)})`));
}

export class StemMixer {
  /** `anchor`: the element the mixer goes before (the results heading). */
  constructor(anchor) {
    this.anchor = anchor;
    this.element = null;
    this.transport = null;
    this.generation = 0;
    this.objectUrls = [];
    this.frame = 0;
    this.columns = null; // per stem, the waveform's column extremes at the canvas' width
  }

  clear() {
    this.generation += 1;
    window.cancelAnimationFrame(this.frame);
    if (this.transport) this.transport.close();
    this.transport = null;
    for (const url of this.objectUrls) URL.revokeObjectURL(url);
    this.objectUrls = [];
    if (this.resize) this.resize.disconnect();
    this.resize = null;
    if (this.element) this.element.remove();
    this.element = null;
    if (current === this) current = null;
  }

  /** Show the mixer for a finished job, if it has stems. */
  async show(job) {
    this.clear();
    if (job.status !== "completed" || job.artifacts_expired_at) return;
    const found = stemsOf(job);
    if (!found) return;
    const generation = this.generation;
    const sampleRate = found.stems[0].artifact.sample_rate || DEFAULT_RATE;
    this.#build(job, found);
    current = this;
    const decoded = found.stems.reduce((sum, s) => sum + decodedBytes(s.artifact, sampleRate), 0);
    if (decoded > MAX_DECODED_BYTES) {
      this.#status("error", "Too long to mix in the page: download the stems below.");
      return;
    }
    try {
      const buffers = await Promise.all(found.stems.map((s) => decode(s.artifact.url, sampleRate)));
      if (generation !== this.generation) return;
      this.stems = found.stems.map((s, i) => ({ name: s.label, buffer: buffers[i], volume: 1, solo: false, mute: false }));
    } catch (error) {
      if (generation === this.generation) this.#status("error", `Could not load the stems: ${error.message}`);
      return;
    }
    let original = null;
    let originalNote = "";
    if (!found.original) {
      originalNote = "No original to compare with.";
    } else {
      try {
        // Its size decoded, from its metadata, before a byte of it is fetched.
        const described = found.original.artifact || (await getJson(found.original.metadata));
        if (decodedBytes(described, sampleRate) + decoded > MAX_DECODED_BYTES) {
          originalNote = "The original is too long to hold beside the stems.";
        } else {
          original = await decode(found.original.url, sampleRate);
        }
      } catch (error) {
        originalNote = `The original cannot be played: ${error.message}`;
      }
      if (generation !== this.generation) return;
    }
    this.transport = new MixTransport(this.stems, original, sampleRate);
    this.transport.onEnded = () => this.#showState();
    this.#ready(found, original, originalNote);
  }

  #build(job, found) {
    const title = h("h3", { id: "mixer-title" }, "Mixer");
    this.statusLine = h("p", { className: "muted mixer-status", id: "mixer-status", aria: { live: "polite" } }, `Loading ${found.stems.length} stems…`);
    this.playButton = h("button", { type: "button", className: "mixer-play primary", disabled: true, aria: { keyshortcuts: "Space" } }, "Play");
    this.timeText = h("span", { className: "mixer-time", aria: { live: "off" } }, "0:00 / 0:00");
    this.abButton = h("button", { type: "button", className: "mixer-ab", disabled: true, aria: { pressed: "false", keyshortcuts: "A" } }, "A/B: hear the original");
    this.downloadButton = h("button", { type: "button", className: "mixer-download", disabled: true }, "Download this mix");
    this.canvas = h("canvas", { className: "mixer-wave", role: "img", aria: { label: "Waveform of the mix" } }, "Waveform of the mix");
    this.playhead = h("div", { className: "mixer-playhead", aria: { hidden: "true" } });
    this.timeline = h("div", { className: "mixer-timeline" }, this.canvas, this.playhead);
    this.position = h("input", { type: "range", id: "mixer-position", min: "0", max: "0", step: "0.01", value: "0", disabled: true });
    this.stemList = h("ul", { className: "mixer-stems", aria: { label: "Stems" } });
    const stemNames = found.stems.map((s) => s.label).join(", ");
    this.element = h(
      "section",
      { className: "mixer", id: "mixer", aria: { labelledby: "mixer-title", describedby: "mixer-keys" }, dataset: { state: "loading", jobId: job.id } },
      title,
      h("p", { className: "muted" }, `The stems (${stemNames}) playing together${found.tooMany ? `, the first ${MAX_STEMS}` : ""}.`),
      this.statusLine,
      h("div", { className: "mixer-transport", role: "group", aria: { label: "Transport" } }, this.playButton, this.timeText, this.abButton, this.downloadButton),
      this.timeline,
      h("div", { className: "mixer-seek" }, h("label", { htmlFor: "mixer-position" }, "Position"), this.position),
      this.stemList,
      h("p", { className: "muted mixer-keys", id: "mixer-keys" }, "In the mixer, Space plays or pauses and A switches between the mix and the original."),
    );
    this.anchor.before(this.element);
  }

  #status(state, text) {
    if (!this.element) return;
    this.element.dataset.state = state;
    this.statusLine.textContent = text;
  }

  #ready(found, original, originalNote) {
    const transport = this.transport;
    this.position.max = String(transport.duration);
    this.position.disabled = false;
    this.playButton.disabled = false;
    this.downloadButton.disabled = false;
    this.abButton.disabled = !original;
    if (original) this.abButton.dataset.original = found.original.label;
    this.stemList.replaceChildren(...this.stems.map((stem, index) => this.#stemRow(stem, index)));
    this.playButton.addEventListener("click", () => this.toggle());
    this.abButton.addEventListener("click", () => this.toggleAB());
    this.downloadButton.addEventListener("click", () => this.download());
    this.position.addEventListener("input", () => this.seek(Number(this.position.value)));
    // The slider's own step (a hundredth of a second, for dragging) is no use to the arrow
    // keys: they move by 5 s (an eighth of a short song), Page Up/Down by 30 s.
    const nudge = Math.min(5, Math.max(0.1, transport.duration / 8));
    const jumps = { ArrowRight: nudge, ArrowUp: nudge, ArrowLeft: -nudge, ArrowDown: -nudge, PageUp: 30, PageDown: -30 };
    this.position.addEventListener("keydown", (event) => {
      if (!(event.key in jumps) || event.altKey || event.ctrlKey || event.metaKey) return;
      event.preventDefault();
      this.seek(transport.currentTime() + jumps[event.key]);
    });
    this.canvas.addEventListener("pointerdown", (event) => {
      const box = this.canvas.getBoundingClientRect();
      if (box.width > 0) this.seek(((event.clientX - box.left) / box.width) * transport.duration);
    });
    this.element.addEventListener("keydown", (event) => this.#key(event));
    this.resize = new ResizeObserver(() => {
      this.columns = null;
      this.#drawWave();
    });
    this.resize.observe(this.timeline);
    const note = originalNote ? ` ${originalNote}` : "";
    this.#status("ready", `Ready: ${this.stems.length} stems, ${formatSeconds(transport.duration)}.${note}`);
    this.#showState();
    this.#drawWave();
  }

  #stemRow(stem, index) {
    const id = `mixer-stem-${index}`;
    const nameId = `${id}-name`;
    const solo = h("button", { type: "button", className: "mixer-solo", dataset: { role: "solo" }, aria: { pressed: "false", label: `Solo ${stem.name}` } }, "S");
    const mute = h("button", { type: "button", className: "mixer-mute", dataset: { role: "mute" }, aria: { pressed: "false", label: `Mute ${stem.name}` } }, "M");
    const volume = h("input", { type: "range", id: `${id}-volume`, min: "0", max: String(VOLUME_MAX_PERCENT), step: "1", value: "100", dataset: { role: "volume" }, aria: { valuetext: percentText(100) } });
    const shown = h("output", { htmlFor: volume.id, className: "mixer-volume-text" });
    showVolume(shown, 100);
    const row = h(
      "li",
      { className: "mixer-stem", dataset: { stem: stem.name } },
      h("span", { className: "mixer-stem-name", id: nameId }, stem.name),
      solo,
      mute,
      h("label", { htmlFor: volume.id, className: "visually-hidden" }, `Volume of ${stem.name}`),
      volume,
      shown,
    );
    const changed = () => {
      solo.setAttribute("aria-pressed", String(stem.solo));
      mute.setAttribute("aria-pressed", String(stem.mute));
      this.#gainsChanged();
    };
    solo.addEventListener("click", () => {
      stem.solo = !stem.solo;
      changed();
      announce(`${stem.name} ${stem.solo ? "soloed" : "no longer soloed"}`);
    });
    mute.addEventListener("click", () => {
      stem.mute = !stem.mute;
      changed();
      announce(`${stem.name} ${stem.mute ? "muted" : "unmuted"}`);
    });
    volume.addEventListener("input", () => {
      const percent = Number(volume.value);
      stem.volume = percent / 100;
      volume.setAttribute("aria-valuetext", percentText(percent));
      showVolume(shown, percent);
      this.#gainsChanged();
    });
    return row;
  }

  #gainsChanged() {
    this.transport.updateGains();
    const gains = effectiveGains(this.stems);
    for (const [i, row] of [...this.stemList.children].entries()) row.dataset.heard = String(gains[i] > 0);
    this.#drawWave();
  }

  #key(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (event.key === " " || event.code === "Space") {
      // A button's own Space presses it (Play itself toggles); elsewhere Space is the transport's.
      if (target instanceof HTMLButtonElement) return;
      event.preventDefault();
      this.toggle();
    } else if (event.key === "a" || event.key === "A") {
      event.preventDefault();
      this.toggleAB();
    }
  }

  async toggle() {
    if (!this.transport) return;
    if (this.transport.playing) this.transport.pause();
    else await this.transport.play();
    this.#showState();
  }

  async seek(seconds) {
    if (!this.transport) return;
    await this.transport.seek(seconds);
    this.#showState();
  }

  toggleAB() {
    const transport = this.transport;
    if (!transport || !transport.original) return;
    transport.listen(transport.listening === "mix" ? "original" : "mix");
    const original = transport.listening === "original";
    this.abButton.setAttribute("aria-pressed", String(original));
    this.abButton.textContent = original ? "A/B: hear the mix" : "A/B: hear the original";
    this.element.dataset.listening = transport.listening;
    announce(original ? "Playing the original" : "Playing the mix");
  }

  /** The mix as heard now, rendered offline: what "download this mix" saves. */
  render() {
    return renderMix(this.stems, this.transport.sampleRate);
  }

  async download() {
    this.downloadButton.disabled = true;
    this.downloadButton.setAttribute("aria-busy", "true");
    try {
      const blob = wavOfBuffer(await this.render());
      const url = URL.createObjectURL(blob);
      this.objectUrls.push(url);
      const name = `mix-${(this.element.dataset.jobId || "").slice(0, 8)}.wav`;
      const link = h("a", { href: url, download: name, className: "visually-hidden" }, name);
      this.element.append(link);
      link.click();
      link.remove();
      announce("Mix rendered");
    } catch (error) {
      this.#status("error", `Could not render the mix: ${error.message}`);
    } finally {
      if (this.downloadButton) {
        this.downloadButton.disabled = false;
        this.downloadButton.removeAttribute("aria-busy");
      }
    }
  }

  #showState() {
    window.cancelAnimationFrame(this.frame);
    const transport = this.transport;
    if (!transport || !this.element) return;
    const playing = transport.playing;
    this.playButton.textContent = playing ? "Pause" : "Play";
    this.element.dataset.playing = String(playing);
    this.element.dataset.listening = transport.listening;
    const tick = () => {
      if (transport.playing && this.element.closest("[hidden]")) {
        // The studio was hidden (signed out): nothing plays where it cannot be stopped.
        transport.pause();
        this.#showState();
        return;
      }
      const at = transport.currentTime();
      const fraction = transport.duration > 0 ? at / transport.duration : 0;
      // CSSOM, not a style attribute: the page's CSP (no 'unsafe-inline') allows it.
      this.timeline.style.setProperty("--mixer-at", fraction.toFixed(5));
      this.position.value = String(at);
      const text = `${formatSeconds(at)} / ${formatSeconds(transport.duration)}`;
      if (this.timeText.textContent !== text) {
        this.timeText.textContent = text;
        this.position.setAttribute("aria-valuetext", text);
      }
      this.element.dataset.position = at.toFixed(3);
      if (transport.playing) this.frame = window.requestAnimationFrame(tick);
      else if (playing) this.#showState(); // ended while ticking
    };
    tick();
  }

  #drawWave() {
    if (!this.stems || !this.canvas.isConnected) return;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round((this.canvas.clientWidth || 320) * ratio));
    const height = Math.max(1, Math.round((this.canvas.clientHeight || 64) * ratio));
    if (!this.columns || this.columns.width !== width) {
      this.columns = { width, stems: this.stems.map((stem) => columnExtremes(stem.buffer, width, this.transport.duration)) };
    }
    this.canvas.width = width;
    this.canvas.height = height;
    const gains = effectiveGains(this.stems);
    const graphics = this.canvas.getContext("2d");
    const style = getComputedStyle(this.canvas);
    graphics.fillStyle = style.getPropertyValue("--wave-bg").trim() || "#eef3f9";
    graphics.fillRect(0, 0, width, height);
    graphics.fillStyle = style.getPropertyValue("--wave").trim() || "#1f5fa8";
    const middle = height / 2;
    for (let x = 0; x < width; x += 1) {
      // The heard stems' extremes added at their gains: the mix's envelope, near enough.
      let high = 0;
      let low = 0;
      for (let i = 0; i < gains.length; i += 1) {
        if (gains[i] === 0) continue;
        high += gains[i] * this.columns.stems[i].highs[x];
        low += gains[i] * this.columns.stems[i].lows[x];
      }
      const top = middle - Math.min(high, 1) * middle;
      const bottom = middle - Math.max(low, -1) * middle;
      graphics.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
    this.canvas.dataset.drawn = "true";
  }
}

/** Per pixel column, the highest and lowest sample of any channel (on the song's timeline). */
function columnExtremes(buffer, columns, duration) {
  const lows = new Float32Array(columns);
  const highs = new Float32Array(columns);
  const framesPerColumn = (duration * buffer.sampleRate) / columns;
  for (let c = 0; c < buffer.numberOfChannels; c += 1) {
    const samples = buffer.getChannelData(c);
    for (let x = 0; x < columns; x += 1) {
      const start = Math.floor(x * framesPerColumn);
      const end = Math.min(samples.length, Math.max(start + 1, Math.floor((x + 1) * framesPerColumn)));
      let low = lows[x];
      let high = highs[x];
      for (let i = start; i < end; i += 1) {
        const sample = samples[i];
        if (sample < low) low = sample;
        if (sample > high) high = sample;
      }
      lows[x] = low;
      highs[x] = high;
    }
  }
  return { lows, highs };
}
