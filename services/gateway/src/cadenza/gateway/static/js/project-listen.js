// Hearing the shared mix: the stems of one of the project's finished jobs play together,
// each through a gain and a pan that follow the shared document — so when another member
// moves a fader, what this page plays changes with it. A stem is the track of its name
// ("Use as tracks" adds the missing ones to the mix); gain, pan, mute and solo as
// shared_mix.py defines them. Decoded stems are bounded as in the job mixer.

import { artifactBlob } from "./artifacts.js";
import { h } from "./dom.js";
import { effectiveGains } from "./mix-graph.js";
import { stemsOf } from "./stem-mixer.js";

const MAX_DECODED_BYTES = 512 * 1024 * 1024;
const DEFAULT_RATE = 48000;
// A fader's change glides in this time constant (seconds): no zipper noise, still at once.
const GLIDE_S = 0.015;

let current = null;

/** The player on the page now (null when none): the tests read what it applies. */
export function currentProjectPlayer() {
  return current;
}

function decodedBytes(artifact, sampleRate) {
  if (artifact.duration_s && artifact.channels) return artifact.duration_s * sampleRate * artifact.channels * 4;
  return artifact.bytes * 12;
}

export class ProjectPlayer {
  /**
   * @param {{controls: () => Map<string, object>, addTracks: (names: string[]) => void, canEdit: () => boolean}} mix
   */
  constructor(mix) {
    this.mix = mix;
    this.onLoaded = mix.onLoaded || (() => {});
    this.jobs = [];
    this.stems = [];
    this.voices = [];
    this.context = null;
    this.playing = false;
    this.levels = {}; // stem → {gain, pan} as applied
    this.select = h("select", { id: "listen-job" });
    this.loadButton = h("button", { type: "button", id: "listen-load", onclick: () => this.load() }, "Load the stems");
    this.playButton = h("button", { type: "button", id: "listen-play", className: "primary", disabled: true, onclick: () => this.toggle() }, "Play");
    this.useButton = h("button", { type: "button", id: "listen-use", hidden: true, onclick: () => this.useAsTracks() }, "Use the stems as tracks");
    this.status = h("p", { id: "listen-status", className: "muted", aria: { live: "polite" } });
    this.fields = h("div", { className: "inline listen-controls" },
      h("label", { htmlFor: "listen-job" }, "Hear the stems of"), this.select, this.loadButton, this.playButton, this.useButton);
    this.element = h("div", { id: "project-listen", className: "project-listen", hidden: true }, this.fields, this.status);
  }

  /** The project's jobs: those with stems can be heard. */
  setJobs(jobs) {
    this.jobs = jobs.filter((job) => job.status === "completed" && !job.artifacts_expired_at && stemsOf(job));
    const chosen = this.select.value;
    this.select.replaceChildren(...this.jobs.map((job) => h("option", { value: job.id }, `${job.kind} of ${new Date(job.created_at).toLocaleString()}`)));
    if (this.jobs.some((job) => job.id === chosen)) this.select.value = chosen;
    this.element.hidden = this.jobs.length === 0;
  }

  async load() {
    const job = this.jobs.find((j) => j.id === this.select.value);
    if (!job) return;
    this.stop();
    const found = stemsOf(job);
    const sampleRate = found.stems[0].artifact.sample_rate || DEFAULT_RATE;
    const size = found.stems.reduce((sum, s) => sum + decodedBytes(s.artifact, sampleRate), 0);
    if (size > MAX_DECODED_BYTES) {
      this.status.textContent = "Too long to hear in the page: download the stems from the job instead.";
      return;
    }
    this.loadButton.disabled = true;
    this.status.textContent = `Loading ${found.stems.length} stems…`;
    try {
      if (!this.context) this.context = new AudioContext({ sampleRate });
      const buffers = await Promise.all(found.stems.map(async (s) =>
        this.context.decodeAudioData(await (await artifactBlob(s.artifact.url)).arrayBuffer())));
      this.stems = found.stems.map((s, i) => ({ name: s.label, buffer: buffers[i] }));
    } catch (error) {
      this.status.textContent = `Could not load the stems: ${error.message}`;
      return;
    } finally {
      this.loadButton.disabled = false;
    }
    current = this;
    this.build();
    this.onLoaded();
    const missing = this.missingTracks();
    this.useButton.hidden = missing.length === 0 || !this.mix.canEdit();
    this.playButton.disabled = false;
    this.status.textContent = `${this.stems.length} stems loaded: ${this.stems.map((s) => s.name).join(", ")}.`
      + (missing.length ? ` Not in the mix yet (heard at their defaults): ${missing.join(", ")}.` : "");
  }

  /** The decoded stem heard as `track`, if one is loaded. */
  stemBuffer(track) {
    const stem = this.stems.find((s) => s.name === track);
    return stem ? stem.buffer : null;
  }

  missingTracks() {
    const controls = this.mix.controls();
    return this.stems.map((s) => s.name).filter((name) => !controls.has(name));
  }

  useAsTracks() {
    this.mix.addTracks(this.missingTracks());
    this.useButton.hidden = true;
  }

  /** One gain and one pan per stem, at the shared mix's values. */
  build() {
    for (const voice of this.voices) voice.output.disconnect();
    this.voices = this.stems.map(() => {
      const gain = new GainNode(this.context);
      const pan = new StereoPannerNode(this.context);
      gain.connect(pan).connect(this.context.destination);
      return { gain, pan, output: pan, source: null };
    });
    this.follow(true);
  }

  /** The shared mix changed (anyone's edit): what each stem is heard at follows. */
  follow(now = false) {
    if (!this.voices.length) return;
    const controls = this.mix.controls();
    const settings = this.stems.map((stem) => {
      const c = controls.get(stem.name) || {};
      return { volume: c.gain ?? 1, mute: Boolean(c.mute), solo: Boolean(c.solo), pan: c.pan ?? 0 };
    });
    const gains = effectiveGains(settings);
    const at = this.context.currentTime;
    this.stems.forEach((stem, i) => {
      const { gain, pan } = this.voices[i];
      if (now || !this.playing) {
        gain.gain.value = gains[i];
        pan.pan.value = settings[i].pan;
      } else {
        gain.gain.setTargetAtTime(gains[i], at, GLIDE_S);
        pan.pan.setTargetAtTime(settings[i].pan, at, GLIDE_S);
      }
      this.levels[stem.name] = { gain: gains[i], pan: settings[i].pan };
    });
  }

  async toggle() {
    if (this.playing) {
      this.stop();
      return;
    }
    await this.context.resume();
    const when = this.context.currentTime + 0.05;
    this.voices.forEach((voice, i) => {
      const source = new AudioBufferSourceNode(this.context, { buffer: this.stems[i].buffer });
      source.connect(voice.gain);
      source.start(when);
      voice.source = source;
    });
    const longest = Math.max(...this.stems.map((s) => s.buffer.duration));
    this.endTimer = window.setTimeout(() => this.stop(), (longest + 0.1) * 1000);
    this.playing = true;
    this.playButton.textContent = "Stop";
  }

  stop() {
    window.clearTimeout(this.endTimer);
    for (const voice of this.voices) {
      if (voice.source) {
        voice.source.stop();
        voice.source.disconnect();
        voice.source = null;
      }
    }
    this.playing = false;
    this.playButton.textContent = "Play";
  }

  close() {
    this.stop();
    if (this.context) this.context.close();
    this.context = null;
    this.voices = [];
    if (current === this) current = null;
  }
}
