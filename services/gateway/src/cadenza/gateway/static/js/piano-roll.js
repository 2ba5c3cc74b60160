// A piano roll of a MIDI file, drawn in the page: one colour per part (MIDI track), a time
// axis in seconds, and a playhead that follows an <audio> element playing the same music
// (a blend's preview, a song's rendered preview). Clicking the roll seeks the audio.
//
// The MIDI is parsed here with @tonejs/midi (vendored: tonejs-midi.js). Bounded: files over
// MAX_MIDI_BYTES are not parsed, and at most MAX_NOTES notes are drawn.

import { h } from "./dom.js";
import { Midi } from "./tonejs-midi.js";

export const MAX_MIDI_BYTES = 4 * 1024 * 1024;
const MAX_NOTES = 100_000;
const AXIS_PX = 18; // the time axis's strip under the notes
// Fallbacks for --part-1…--part-8 (listen.css sets them per theme).
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2", "#8c564b"];

/** The parts of a MIDI file: per track with notes, its name and its notes (seconds). */
export function parseMidi(bytes) {
  if (bytes.byteLength > MAX_MIDI_BYTES) {
    throw new Error(`the MIDI file is ${Math.round(bytes.byteLength / 1024)} KiB; the roll reads at most ${MAX_MIDI_BYTES / 1024 / 1024} MiB`);
  }
  const midi = new Midi(new Uint8Array(bytes));
  const parts = midi.tracks
    .filter((track) => track.notes.length > 0)
    .map((track, index) => ({
      name: track.name || track.instrument.name || `part ${index + 1}`,
      drums: track.instrument.percussion,
      notes: track.notes.map(({ midi: pitch, time, duration, velocity }) => ({ pitch, time, duration, velocity })),
    }));
  let duration = Math.max(midi.duration, 0);
  for (const part of parts) for (const n of part.notes) duration = Math.max(duration, n.time + n.duration);
  return { parts, duration };
}

/** Seconds between labelled ticks: a round step that leaves `ticks` labels at most. */
function tickStep(duration, ticks) {
  for (const step of [1, 2, 5, 10, 15, 30, 60, 120, 300]) if (duration / step <= ticks) return step;
  return 600;
}

function clock(seconds) {
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

export class PianoRoll {
  /** `label` names the music for screen readers ("blend.mid"). */
  constructor(label) {
    this.label = label;
    this.canvas = h("canvas", { className: "piano-roll-canvas", role: "img", aria: { label: `Piano roll of ${label}` } }, `Piano roll of ${label}`);
    this.playhead = h("div", { className: "piano-roll-playhead", aria: { hidden: "true" } });
    this.frame = h("div", { className: "piano-roll-frame" }, this.canvas, this.playhead);
    this.legend = h("ul", { className: "piano-roll-legend", aria: { label: "Parts" } });
    this.note = h("p", { className: "muted piano-roll-note" }, "Reading the MIDI…");
    this.element = h("figure", { className: "piano-roll", dataset: { label } }, this.frame, this.legend, this.note);
    this.roll = null;
    this.audio = null;
    this.frameRequest = 0;
    this.detach = () => {};
    this.frame.addEventListener("click", (event) => this.#seek(event));
  }

  /** Parse and draw MIDI bytes (an ArrayBuffer). */
  show(bytes) {
    try {
      this.roll = parseMidi(bytes);
    } catch (error) {
      this.note.textContent = `Could not read the MIDI: ${error.message}`;
      return;
    }
    this.#draw();
    this.#place();
  }

  fail(message) {
    this.note.textContent = message;
  }

  /** Move the playhead with `audio` (its time 0 is the MIDI's time 0). */
  follow(audio) {
    this.detach();
    this.audio = audio;
    const tick = () => {
      this.#place();
      this.frameRequest = audio.paused ? 0 : requestAnimationFrame(tick);
    };
    const start = () => {
      cancelAnimationFrame(this.frameRequest);
      this.frameRequest = requestAnimationFrame(tick);
    };
    const once = () => this.#place();
    const events = [["play", start], ["pause", once], ["seeked", once], ["timeupdate", once], ["loadedmetadata", () => this.roll && this.#draw()]];
    for (const [name, handler] of events) audio.addEventListener(name, handler);
    this.detach = () => {
      cancelAnimationFrame(this.frameRequest);
      for (const [name, handler] of events) audio.removeEventListener(name, handler);
    };
    if (this.roll) this.#draw();
  }

  stop() {
    this.detach();
    this.detach = () => {};
  }

  #seek(event) {
    if (!this.audio || !this.roll) return;
    const box = this.canvas.getBoundingClientRect();
    const at = ((event.clientX - box.left) / box.width) * this.roll.duration;
    const playable = Number.isFinite(this.audio.duration) ? this.audio.duration : 0;
    this.audio.currentTime = Math.max(0, Math.min(at, playable));
  }

  #place() {
    if (!this.roll || this.roll.duration <= 0) return;
    const time = this.audio ? this.audio.currentTime : 0;
    const share = Math.max(0, Math.min(time / this.roll.duration, 1));
    // CSSOM, not a style attribute: allowed under the studio's style-src 'self'.
    this.playhead.style.left = `${(share * 100).toFixed(3)}%`;
    this.playhead.dataset.time = time.toFixed(3);
  }

  #draw() {
    const { parts, duration } = this.roll;
    const notes = parts.flatMap((part, index) => part.notes.map((note) => [index, note])).slice(0, MAX_NOTES);
    const style = getComputedStyle(this.element);
    const colour = (index) => style.getPropertyValue(`--part-${(index % PALETTE.length) + 1}`).trim() || PALETTE[index % PALETTE.length];
    const scale = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round((this.canvas.clientWidth || 640) * scale));
    const height = Math.max(1, Math.round((this.canvas.clientHeight || 160) * scale));
    this.canvas.width = width;
    this.canvas.height = height;
    const g = this.canvas.getContext("2d");
    g.fillStyle = style.getPropertyValue("--wave-bg").trim() || "#eef3f9";
    g.fillRect(0, 0, width, height);
    const axis = AXIS_PX * scale;
    // A loop, not Math.min(...pitches): a spread of 100 000 arguments can overflow the stack.
    let low = notes.length ? 127 : 60;
    let high = notes.length ? 0 : 60;
    for (const [, n] of notes) {
      low = Math.min(low, n.pitch);
      high = Math.max(high, n.pitch);
    }
    low -= 1;
    high += 1;
    const row = (height - axis) / (high - low + 1);
    const x = (seconds) => (duration > 0 ? (seconds / duration) * width : 0);

    // What the audio does not cover (a preview's first seconds of a longer piece), shaded.
    const playable = this.audio && Number.isFinite(this.audio.duration) ? this.audio.duration : null;
    if (playable !== null && playable < duration) {
      g.fillStyle = style.getPropertyValue("--line").trim() || "#c9d1da";
      g.fillRect(x(playable), 0, width - x(playable), height - axis);
    }
    for (const [index, note] of notes) {
      g.fillStyle = colour(index);
      g.globalAlpha = 0.45 + 0.55 * note.velocity;
      const y = (high - note.pitch) * row;
      g.fillRect(x(note.time), y, Math.max(1.5 * scale, x(note.time + note.duration) - x(note.time)), Math.max(1, row - scale));
    }
    g.globalAlpha = 1;
    g.fillStyle = style.getPropertyValue("--muted").trim() || "#4d5761";
    g.font = `${11 * scale}px system-ui, sans-serif`;
    g.textBaseline = "bottom";
    const label = 40 * scale; // room for "10:00"
    const step = tickStep(duration, Math.max(1, Math.floor(width / (label * 1.25))));
    for (let t = 0; t <= duration; t += step) {
      g.fillRect(x(t), height - axis, scale, 4 * scale);
      if (x(t) + label <= width) g.fillText(clock(t), x(t) + 2 * scale, height);
    }

    this.legend.replaceChildren(
      ...parts.map((part, index) =>
        h("li", { dataset: { part: part.name, notes: String(part.notes.length) } },
          h("span", { className: `piano-roll-swatch part-${(index % PALETTE.length) + 1}`, aria: { hidden: "true" } }),
          `${part.name}${part.drums ? " (drums)" : ""}: ${part.notes.length} notes`),
      ),
    );
    const summary = `${parts.length} part${parts.length === 1 ? "" : "s"}, ${notes.length} notes, ${clock(duration)}`;
    this.canvas.setAttribute("aria-label", `Piano roll of ${this.label}: ${summary}`);
    this.canvas.dataset.notes = String(notes.length);
    this.canvas.dataset.drawn = "true";
    this.note.textContent = notes.length ? `Piano roll: ${summary}.` : "The MIDI has no notes.";
  }
}
