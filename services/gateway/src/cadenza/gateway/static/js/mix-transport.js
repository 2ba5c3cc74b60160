// One transport for all the stems and the original: play, pause, seek and A/B.
//
// Playing builds the graph of mix-graph.js into a "mix" bus and, beside it, the original
// track into an "original" bus, all sources started at one context time from one offset;
// A/B only swaps the two buses' gains, so the switch lands on the same sample. Pausing
// stops the sources (AudioBufferSourceNodes play once) and keeps the position.

import { connectStems, effectiveGains } from "./mix-graph.js";

// Sources are scheduled this far ahead, so that all of them start on the same frame
// however long building the graph takes.
const START_AHEAD_S = 0.06;
// Gain changes glide over this time constant (no clicks), A/B included.
const GLIDE_S = 0.005;

export class MixTransport {
  /** `stems`: [{name, buffer, volume, solo, mute}] (the mixer changes the flags in place);
   * `original`: an AudioBuffer or null; `sampleRate`: the stems'. */
  constructor(stems, original, sampleRate) {
    this.stems = stems;
    this.original = original;
    this.sampleRate = sampleRate;
    this.duration = Math.max(0, ...stems.map((stem) => stem.buffer.duration));
    this.context = null;
    this.playing = false;
    this.position = 0; // seconds into the song while paused
    this.listening = "mix"; // or "original"
    this.graph = null;
    this.scheduled = null; // {when, offset, started: [{name, when, offset}]}: the last start
    this.onEnded = () => {};
  }

  #ensureContext() {
    if (this.context) return this.context;
    try {
      // At the stems' rate: what is heard is what "download this mix" writes.
      this.context = new AudioContext({ sampleRate: this.sampleRate, latencyHint: "interactive" });
    } catch {
      this.context = new AudioContext({ latencyHint: "interactive" }); // resampled as it plays
    }
    return this.context;
  }

  /** Seconds into the song now. */
  currentTime() {
    if (!this.playing || !this.scheduled) return this.position;
    const elapsed = Math.max(0, this.context.currentTime - this.scheduled.when);
    return Math.min(this.duration, this.scheduled.offset + elapsed);
  }

  async play() {
    if (this.playing) return;
    const context = this.#ensureContext();
    if (context.state !== "running") await context.resume();
    if (this.position >= this.duration) this.position = 0;
    const when = context.currentTime + START_AHEAD_S;
    const offset = this.position;
    const mixBus = new GainNode(context, { gain: this.listening === "mix" ? 1 : 0 });
    const originalBus = new GainNode(context, { gain: this.listening === "original" ? 1 : 0 });
    mixBus.connect(context.destination);
    originalBus.connect(context.destination);
    const { voices, started } = connectStems(context, this.stems, mixBus, { when, offset });
    let originalSource = null;
    if (this.original && offset < this.original.duration) {
      originalSource = new AudioBufferSourceNode(context, { buffer: this.original });
      originalSource.connect(originalBus);
      originalSource.start(when, offset);
      started.push({ name: "original", when, offset });
    }
    this.graph = { voices, mixBus, originalBus, originalSource };
    this.scheduled = { when, offset, started };
    this.playing = true;
    // The end of the song: the longest source to finish stops the transport.
    const longest = voices.reduce(
      (best, voice, i) => (this.stems[i].buffer.duration > this.stems[best].buffer.duration ? i : best),
      0,
    );
    const graph = this.graph;
    voices[longest].source.addEventListener("ended", () => {
      if (this.graph !== graph) return; // stopped by pause or seek, not by the end
      this.#stop();
      this.position = this.duration;
      this.onEnded();
    });
  }

  pause() {
    if (!this.playing) return;
    this.position = this.currentTime();
    this.#stop();
  }

  #stop() {
    const graph = this.graph;
    this.graph = null;
    this.playing = false;
    if (!graph) return;
    for (const { source } of graph.voices) stopQuietly(source);
    if (graph.originalSource) stopQuietly(graph.originalSource);
    graph.mixBus.disconnect();
    graph.originalBus.disconnect();
  }

  /** Move to `seconds`; playing, every source restarts there together. */
  async seek(seconds) {
    const target = Math.min(Math.max(0, seconds), this.duration);
    if (this.playing) {
      this.#stop();
      this.position = target;
      await this.play();
    } else {
      this.position = target;
    }
  }

  /** After a volume, solo or mute change: the playing gains follow. */
  updateGains() {
    if (!this.graph) return;
    const gains = effectiveGains(this.stems);
    const now = this.context.currentTime;
    this.graph.voices.forEach(({ gain }, i) => gain.gain.setTargetAtTime(gains[i], now, GLIDE_S));
  }

  /** Hear the mix or the original ("mix" | "original"), at the same position. */
  listen(which) {
    if (which === "original" && !this.original) return;
    this.listening = which;
    if (!this.graph) return;
    const now = this.context.currentTime;
    this.graph.mixBus.gain.setTargetAtTime(which === "mix" ? 1 : 0, now, GLIDE_S);
    this.graph.originalBus.gain.setTargetAtTime(which === "original" ? 1 : 0, now, GLIDE_S);
  }

  /** The buses' gains as scheduled now (for the tests: which one is heard). */
  busGains() {
    if (!this.graph) return null;
    return { mix: this.graph.mixBus.gain.value, original: this.graph.originalBus.gain.value };
  }

  close() {
    this.#stop();
    if (this.context) this.context.close().catch(() => {});
    this.context = null;
  }
}

function stopQuietly(source) {
  try {
    source.stop();
  } catch {
    // never started (its offset was past its end)
  }
  source.disconnect();
}
