// A project's shared mixer: the Yjs document the members edit at once (the gateway's
// shared_mix.py has its schema: a Y.Map `tracks`, track id → Y.Map {gain, pan, mute, solo,
// effects}). Local edits go out as binary Yjs updates, merged and at most one frame every
// SEND_GAP_MS (the server takes 30 a second); the others' updates apply as they come, so a
// fader moves when someone else moves it; a refused change (`mix.reset`) starts the
// document over from the server's state.

import * as Y from "./yjs.js";
import { h } from "./dom.js";
import { ProjectPlayer } from "./project-listen.js";
import { drawTrackWave, pickRanges } from "./track-waveform.js";

const REMOTE = "server";
const SEND_GAP_MS = 50;
const MAX_TRACKS = 64;
const MAX_TRACK_ID_CHARS = 128;
const DEFAULTS = { gain: 1, pan: 0, mute: false, solo: false };

export function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function gainText(gain) {
  if (gain <= 0) return "−∞ dB";
  const db = 20 * Math.log10(gain);
  return `${db >= 0 ? "+" : "−"}${Math.abs(db).toFixed(1)} dB`;
}

export function panText(pan) {
  const amount = Math.round(Math.abs(pan) * 100);
  if (amount === 0) return "centre";
  return `${amount}% ${pan < 0 ? "left" : "right"}`;
}

let rows = 0;

export class SharedMixer {
  /**
   * @param {{send: (bytes: Uint8Array) => boolean, onLooking: (track: string|null) => void,
   *   rangesFor: (track: string) => object[], onRange: (track: string, start: number, end: number) => void}} options
   */
  constructor({ send, onLooking, rangesFor, onRange }) {
    this.send = send;
    this.onLooking = onLooking;
    this.rangesFor = rangesFor;
    this.onRange = onRange;
    this.readOnly = true;
    this.pending = [];
    this.timer = 0;
    this.lastSentAt = 0;
    this.rows = new Map();
    this.doc = null;
    this.observer = () => this.render();

    this.trackInput = h("input", { id: "mix-track-id", type: "text", maxLength: MAX_TRACK_ID_CHARS, autocomplete: "off", required: true });
    this.addButton = h("button", { type: "button", id: "mix-add-track", onclick: () => this.addTrack() }, "Add track");
    this.adder = h("div", { className: "inline mix-adder" },
      h("label", { htmlFor: "mix-track-id" }, "Track to add (e.g. vocals)"), this.trackInput, this.addButton);
    this.trackInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.addTrack();
      }
    });
    this.note = h("p", { id: "mix-note", className: "muted" });
    this.error = h("p", { id: "mix-error", className: "error", role: "alert" });
    this.list = h("ul", { id: "mix-tracks", className: "mix-tracks", aria: { labelledby: "mix-title" } });
    this.empty = h("p", { id: "mix-empty", className: "muted" }, "No tracks in the shared mix yet.");
    this.player = new ProjectPlayer({
      controls: () => new Map(Object.entries(this.toJSON())),
      addTracks: (names) => this.addTracks(names),
      canEdit: () => !this.readOnly,
      onLoaded: () => this.drawWaves(),
    });
    this.element = h("section", { id: "project-mixer", className: "project-part shared-mixer", aria: { labelledby: "mix-title" } },
      h("h4", { id: "mix-title" }, "Shared mix"), this.note, this.player.element, this.adder, this.error, this.empty, this.list);
    this.element.addEventListener("focusin", (event) => {
      const row = event.target.closest("[data-track]");
      this.onLooking(row ? row.dataset.track : null);
    });
  }

  /** Start from the server's whole state (a snapshot); keeps edits made while away. */
  load(stateBase64) {
    const state = fromBase64(stateBase64);
    if (!this.doc) {
      this.replaceDoc(state);
      return;
    }
    Y.applyUpdate(this.doc, state, REMOTE);
    const missing = Y.encodeStateAsUpdate(this.doc, Y.encodeStateVectorFromUpdate(state));
    if (missing.length > 2) this.queue(missing); // edits the server has not had
  }

  /** Another member's accepted update. */
  applyRemote(updateBase64) {
    if (this.doc) Y.applyUpdate(this.doc, fromBase64(updateBase64), REMOTE);
  }

  /** The server refused one of ours: a new document from its state (`mix.reset`). */
  reset(stateBase64, reason) {
    this.pending = [];
    this.replaceDoc(fromBase64(stateBase64));
    if (reason) this.error.textContent = `Your last change to the mix was not kept: ${reason}`;
  }

  replaceDoc(state) {
    if (this.doc) {
      this.doc.getMap("tracks").unobserveDeep(this.observer);
      this.doc.destroy();
    }
    const doc = new Y.Doc();
    Y.applyUpdate(doc, state, REMOTE);
    doc.on("update", (update, origin) => {
      if (origin !== REMOTE) this.queue(update);
    });
    doc.getMap("tracks").observeDeep(this.observer);
    this.doc = doc;
    this.render();
  }

  setReadOnly(readOnly, role) {
    this.readOnly = readOnly;
    this.adder.hidden = readOnly;
    this.note.textContent = readOnly
      ? `You are ${role === "admin" ? "an" : "a"} ${role} here: you see the shared mix but cannot change it.`
      : "Everyone in the project edits this mix at once: your changes reach the others as you make them.";
    this.render();
  }

  queue(update) {
    this.pending.push(update);
    if (this.timer) return;
    const wait = Math.max(0, this.lastSentAt + SEND_GAP_MS - performance.now());
    this.timer = window.setTimeout(() => this.flush(), wait);
  }

  /** Send what is pending as one update; kept for later when not connected. */
  flush() {
    this.timer = 0;
    if (this.pending.length === 0) return;
    const merged = this.pending.length === 1 ? this.pending[0] : Y.mergeUpdates(this.pending);
    if (this.send(merged)) {
      this.pending = [];
      this.lastSentAt = performance.now();
    } else {
      this.pending = [merged];
    }
  }

  tracks() {
    return this.doc ? this.doc.getMap("tracks") : null;
  }

  addTrack() {
    const id = this.trackInput.value.trim();
    const tracks = this.tracks();
    this.error.textContent = "";
    if (!tracks || this.readOnly) return;
    if (!id) {
      this.error.textContent = "Name the track to add.";
    } else if (id.length > MAX_TRACK_ID_CHARS) {
      this.error.textContent = `A track's name has at most ${MAX_TRACK_ID_CHARS} characters.`;
    } else if (tracks.has(id)) {
      this.error.textContent = `The mix already has a track “${id}”.`;
    } else if (tracks.size >= MAX_TRACKS) {
      this.error.textContent = `The mix has ${MAX_TRACKS} tracks, the most it takes.`;
    } else {
      this.doc.transact(() => {
        const track = new Y.Map();
        track.set("effects", new Y.Map());
        tracks.set(id, track);
      });
      this.trackInput.value = "";
      const row = this.rows.get(id);
      if (row) row.gain.focus();
      return;
    }
    this.trackInput.focus();
  }

  /** Add tracks by name (a job's stems), those the mix lacks, as far as it has room. */
  addTracks(names) {
    const tracks = this.tracks();
    if (!tracks || this.readOnly) return;
    this.doc.transact(() => {
      for (const name of names) {
        if (tracks.has(name) || tracks.size >= MAX_TRACKS || !name || name.length > MAX_TRACK_ID_CHARS) continue;
        const track = new Y.Map();
        track.set("effects", new Y.Map());
        tracks.set(name, track);
      }
    });
  }

  /** Change one control of a track (a local edit: sent to the others). */
  set(trackId, control, value) {
    const track = this.tracks() && this.tracks().get(trackId);
    if (!track || this.readOnly) return;
    if (track.get(control) !== value) track.set(control, value);
  }

  render() {
    const tracks = this.tracks();
    const ids = tracks ? [...tracks.keys()].sort() : [];
    for (const [id, row] of this.rows) {
      if (!ids.includes(id)) {
        row.element.remove();
        this.rows.delete(id);
      }
    }
    ids.forEach((id, index) => {
      let row = this.rows.get(id);
      if (!row) {
        row = this.makeRow(id);
        this.rows.set(id, row);
        this.drawWave(id, row);
      }
      if (this.list.children[index] !== row.element) this.list.insertBefore(row.element, this.list.children[index] || null);
      const track = tracks.get(id);
      const value = (name) => {
        const v = track instanceof Y.Map ? track.get(name) : undefined;
        return v === undefined ? DEFAULTS[name] : v;
      };
      const gain = Number(value("gain"));
      const pan = Number(value("pan"));
      if (Number(row.gain.value) !== gain) row.gain.value = String(gain);
      if (Number(row.pan.value) !== pan) row.pan.value = String(pan);
      row.gain.setAttribute("aria-valuetext", gainText(gain));
      row.pan.setAttribute("aria-valuetext", panText(pan));
      row.gainOut.textContent = gainText(gain);
      row.panOut.textContent = panText(pan);
      row.mute.checked = Boolean(value("mute"));
      row.solo.checked = Boolean(value("solo"));
      row.element.dataset.muted = String(row.mute.checked);
      for (const input of [row.gain, row.pan, row.mute, row.solo]) input.disabled = this.readOnly;
    });
    this.empty.hidden = ids.length > 0;
    this.player.follow();
  }

  /** Every track's waveform (a stem of that name loaded), with its comments' ranges. */
  drawWaves() {
    for (const [id, row] of this.rows) this.drawWave(id, row);
  }

  drawWave(id, row) {
    const buffer = this.player.stemBuffer(id);
    row.wave.hidden = !buffer;
    if (buffer) drawTrackWave(row.wave, buffer, this.rangesFor(id));
  }

  makeRow(id) {
    rows += 1;
    const key = `mix-${rows}`;
    const gain = h("input", { id: `${key}-gain`, name: "gain", type: "range", min: "0", max: "1.5", step: "0.01" });
    const pan = h("input", { id: `${key}-pan`, name: "pan", type: "range", min: "-1", max: "1", step: "0.01" });
    const mute = h("input", { id: `${key}-mute`, name: "mute", type: "checkbox" });
    const solo = h("input", { id: `${key}-solo`, name: "solo", type: "checkbox" });
    const gainOut = h("output", { htmlFor: gain.id, className: "mix-value" });
    const panOut = h("output", { htmlFor: pan.id, className: "mix-value" });
    gain.addEventListener("input", () => this.set(id, "gain", Number(gain.value)));
    pan.addEventListener("input", () => this.set(id, "pan", Number(pan.value)));
    mute.addEventListener("change", () => this.set(id, "mute", mute.checked));
    solo.addEventListener("change", () => this.set(id, "solo", solo.checked));
    const wave = h("canvas", { className: "mix-wave", hidden: true, title: `Drag across ${id} to comment on that time range`, aria: { hidden: "true" } });
    pickRanges(wave, () => (this.player.stemBuffer(id) || { duration: 0 }).duration, (start, end) => this.onRange(id, start, end));
    const element = h("li", { className: "mix-track", dataset: { track: id } },
      h("fieldset", {},
        h("legend", {}, id),
        wave,
        h("div", { className: "mix-control" }, h("label", { htmlFor: gain.id }, `Gain of ${id}`), gain, gainOut),
        h("div", { className: "mix-control" }, h("label", { htmlFor: pan.id }, `Pan of ${id}`), pan, panOut),
        h("div", { className: "choices" },
          h("label", {}, mute, ` Mute ${id}`),
          h("label", {}, solo, ` Solo ${id}`))));
    return { element, gain, pan, mute, solo, gainOut, panOut, wave };
  }

  /** The mix as plain data, unset controls at their defaults (as shared_mix.as_json). */
  toJSON() {
    const tracks = this.tracks();
    const result = {};
    if (!tracks) return result;
    for (const [id, track] of tracks.entries()) {
      const plain = track instanceof Y.Map ? track.toJSON() : {};
      result[id] = { ...DEFAULTS, effects: {}, ...plain };
    }
    return result;
  }

  destroy() {
    this.player.close();
    this.flush();
    window.clearTimeout(this.timer);
    if (this.doc) this.doc.destroy();
    this.doc = null;
  }
}
