// A live level meter for an <audio> element: per channel its sample peak and RMS in dBFS
// over the last ~43 ms (2048 samples at 48 kHz), read from AnalyserNodes while it plays,
// with a peak hold. The element is routed through Web Audio on its first play (a
// MediaElementAudioSourceNode can be made once per element), so it keeps sounding.

import { h } from "./dom.js";

const WINDOW = 2048;
const FLOOR_DB = -60;
const HOLD_MS = 1500;

const dbOf = (linear) => (linear > 0 ? Math.max(FLOOR_DB, 20 * Math.log10(linear)) : FLOOR_DB);

/** Peak and RMS (linear) of a block of samples. */
export function levels(samples) {
  let peak = 0;
  let sum = 0;
  for (const sample of samples) {
    const size = Math.abs(sample);
    if (size > peak) peak = size;
    sum += sample * sample;
  }
  return { peak, rms: samples.length ? Math.sqrt(sum / samples.length) : 0 };
}

export class LevelMeter {
  constructor(label) {
    this.canvas = h("canvas", { className: "level-meter-canvas", aria: { hidden: "true" } });
    this.readout = h("output", { className: "level-meter-readout", aria: { label: `Level of ${label}` } }, "–");
    this.element = h("div", { className: "level-meter", dataset: { peakDb: String(FLOOR_DB), rmsDb: String(FLOOR_DB), maxPeakDb: String(FLOOR_DB), updates: "0" } },
      h("span", { className: "level-meter-title" }, "Level"), this.canvas, this.readout);
    this.context = null;
    this.analysers = [];
    this.frameRequest = 0;
    this.held = [];
    this.detach = () => {};
  }

  attach(audio) {
    const start = () => this.#start(audio);
    const stopped = () => cancelAnimationFrame(this.frameRequest);
    audio.addEventListener("play", start);
    audio.addEventListener("pause", stopped);
    audio.addEventListener("ended", stopped);
    this.detach = () => {
      audio.removeEventListener("play", start);
      audio.removeEventListener("pause", stopped);
      audio.removeEventListener("ended", stopped);
    };
  }

  /** Stop measuring and let the audio context go. */
  close() {
    this.detach();
    cancelAnimationFrame(this.frameRequest);
    if (this.context) this.context.close().catch(() => {});
    this.context = null;
  }

  #start(audio) {
    if (!this.context) {
      // Made on play, a user gesture: the autoplay policy lets it run.
      this.context = new AudioContext();
      const source = this.context.createMediaElementSource(audio);
      const splitter = this.context.createChannelSplitter(2);
      source.connect(this.context.destination);
      source.connect(splitter);
      this.analysers = [0, 1].map((channel) => {
        const analyser = this.context.createAnalyser();
        analyser.fftSize = WINDOW;
        splitter.connect(analyser, channel);
        return analyser;
      });
      this.held = this.analysers.map(() => ({ db: FLOOR_DB, at: 0 }));
    }
    this.context.resume().catch(() => {});
    cancelAnimationFrame(this.frameRequest);
    const samples = new Float32Array(WINDOW);
    const tick = (now) => {
      const measured = this.analysers.map((analyser) => {
        analyser.getFloatTimeDomainData(samples);
        const { peak, rms } = levels(samples);
        return { peak: dbOf(peak), rms: dbOf(rms) };
      });
      this.#show(measured, now);
      this.frameRequest = requestAnimationFrame(tick);
    };
    this.frameRequest = requestAnimationFrame(tick);
  }

  #show(measured, now) {
    const peak = Math.max(...measured.map((m) => m.peak));
    const rms = Math.max(...measured.map((m) => m.rms));
    const data = this.element.dataset;
    data.peakDb = peak.toFixed(1);
    data.rmsDb = rms.toFixed(1);
    data.maxPeakDb = Math.max(Number(data.maxPeakDb), peak).toFixed(1);
    data.updates = String(Number(data.updates) + 1);
    this.readout.textContent = `peak ${peak.toFixed(1)} dBFS · RMS ${rms.toFixed(1)} dBFS`;

    const scale = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round((this.canvas.clientWidth || 240) * scale));
    const height = Math.max(1, Math.round((this.canvas.clientHeight || 24) * scale));
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    const g = this.canvas.getContext("2d");
    const style = getComputedStyle(this.element);
    const colour = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
    g.fillStyle = colour("--wave-bg", "#eef3f9");
    g.fillRect(0, 0, width, height);
    const x = (db) => ((db - FLOOR_DB) / -FLOOR_DB) * width;
    const bar = height / measured.length;
    measured.forEach((m, channel) => {
      const top = channel * bar + scale;
      g.fillStyle = colour("--meter-peak", "#7fa7d6");
      g.fillRect(0, top, x(m.peak), bar - 2 * scale);
      g.fillStyle = colour("--wave", "#1f5fa8");
      g.fillRect(0, top, x(m.rms), bar - 2 * scale);
      const hold = this.held[channel];
      if (m.peak >= hold.db || now - hold.at > HOLD_MS) Object.assign(hold, { db: m.peak, at: now });
      g.fillStyle = hold.db > -1 ? colour("--error", "#a4161a") : colour("--text", "#1b1f24");
      g.fillRect(Math.min(x(hold.db), width - 2 * scale), top, 2 * scale, bar - 2 * scale);
    });
  }
}
