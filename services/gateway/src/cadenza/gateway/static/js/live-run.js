// One live run: the source captured block by block, each block sent through the session,
// played and recorded as it comes back. It ends when a file has come back whole, on stop(),
// or when the server closes the session (with its reason).

import { CHANNELS, LiveAudioGraph, SAMPLE_RATE } from "./live-audio-graph.js";
import { chainEdits } from "./live-chain-edits.js";
import { RoundTrips } from "./live-figures.js";
import { Recording } from "./live-recording.js";
import { LiveEnded, LiveSession } from "./live-session.js";
import { refreshSession } from "./session.js";

const UNAUTHORIZED = 4401;
// After the end, what is buffered plays out; the audio is released at the latest after this.
const DRAIN_LIMIT_MS = 2000;

const seconds = (recording) => `${recording.seconds.toFixed(1)} s`;

export class LiveRun {
  /** `source`: {buffer} (a decoded file) or {stream} (the microphone); onState(state, text). */
  constructor({ source, chain, blockFrames, onState }) {
    this.source = source;
    this.applied = chain;
    this.blockFrames = blockFrames;
    this.onState = onState;
    this.state = "";
    this.dropped = 0; // captured while the most blocks allowed were out: not sent
    this.overflowBlocks = 0; // came back while the playback buffer was full: not played
    this.underruns = 0;
    this.playedFrames = 0;
    this.roundTrips = new RoundTrips();
    this.stopping = false;
    this.closing = false;
    this.pending = null;
    this.drained = null;
    let released;
    /** Resolves once the audio has played out and been let go: the figures are final. */
    this.released = new Promise((resolve) => {
      released = resolve;
    });
    this.markReleased = released;
    this.audioReleased = false;
    this.recording = new Recording({ sampleRate: SAMPLE_RATE, channels: CHANNELS });
    // Made here, in the click's handler: browsers let a page start audio after a gesture.
    this.graph = new LiveAudioGraph({
      blockFrames,
      onBlock: (samples) => this.#captured(samples),
      onCaptureEnd: () => this.#captureEnded(),
      onFigures: (figures) => this.#playbackFigures(figures),
      onLate: () => this.#abandon("the audio started late (the page was busy); start again"),
    });
    this.session = this.#newSession();
  }

  get over() {
    return ["finished", "closed", "error"].includes(this.state);
  }

  /** The frames of the source (a file's length), or Infinity for the microphone. */
  get sourceFrames() {
    return this.source.buffer ? this.source.buffer.length : Infinity;
  }

  figures() {
    return {
      sent: this.session.sent,
      received: this.session.received,
      roundTrips: this.roundTrips,
      underruns: this.underruns,
      dropped: this.dropped + this.overflowBlocks,
      playedFrames: this.playedFrames,
      final: this.audioReleased,
    };
  }

  async start() {
    this.#state("connecting", "Connecting…");
    const format = { sample_rate: SAMPLE_RATE, channels: CHANNELS, block_frames: this.blockFrames, sample_format: "float32" };
    try {
      await this.graph.prepare();
      await this.#open(format);
    } catch (error) {
      this.#finish(error);
      return;
    }
    if (this.stopping) {
      this.stop();
      return;
    }
    const what = this.source.buffer ? "the file" : "the microphone";
    const ms = Math.round((this.blockFrames / SAMPLE_RATE) * 1000);
    this.#state("live", `Live: ${what} through the chain in ${ms} ms blocks.`);
    if (this.pending) this.applyChain(this.pending);
    if (this.source.buffer) this.graph.startFile(this.source.buffer);
    else this.graph.startMicrophone(this.source.stream);
  }

  /** Stop capturing; what is in flight comes back (and is recorded), then the session closes. */
  stop() {
    this.stopping = true;
    if (this.state === "live") this.graph.stopCapture();
    else if (this.state === "connecting") this.session.close();
  }

  /** Apply the editor's chain to the running session: "set" where it can, else "chain". */
  applyChain(chain) {
    if (this.state !== "live") {
      this.pending = chain; // edited while connecting: applied once live
      return;
    }
    this.pending = null;
    for (const edit of chainEdits(this.applied, chain)) {
      if (edit.type === "set") this.session.set(edit.index, edit.params);
      else this.session.replaceChain(edit.chain);
    }
    this.applied = chain;
  }

  async #open(format) {
    try {
      await this.session.open(this.applied, format);
    } catch (error) {
      // An expired access token: one refresh, as for every other call, then once more.
      if (error.code !== UNAUTHORIZED || !(await refreshSession())) throw error;
      this.session = this.#newSession();
      await this.session.open(this.applied, format);
    }
  }

  #newSession() {
    return new LiveSession({
      onBlock: (samples, roundTripMs) => this.#processed(samples, roundTripMs),
      onEnded: (ended) => this.#finish(ended),
    });
  }

  #captured(samples) {
    if (this.over) return;
    if (!this.session.send(samples)) this.dropped += 1;
  }

  #processed(samples, roundTripMs) {
    this.roundTrips.add(roundTripMs);
    this.recording.add(samples);
    this.graph.play(samples);
  }

  async #captureEnded() {
    await this.session.whenAllBack();
    this.closing = true;
    this.session.close(); // the server answers with a normal close: #finish
  }

  #playbackFigures({ underruns, overflowBlocks, playedFrames, drained }) {
    this.underruns = underruns;
    this.overflowBlocks = overflowBlocks;
    this.playedFrames = playedFrames;
    if (drained) this.drained?.();
  }

  #abandon(reason) {
    this.#finish(new Error(reason));
    this.session.close();
  }

  /** The end, however it came: a normal close we asked for, the server's reason, an error. */
  #finish(ended) {
    if (this.over) return;
    const asked = this.closing || this.stopping;
    // Stopped while connecting, the socket may close as 1006 (never opened): still a stop.
    if (asked && (ended.code === 1000 || this.state === "connecting")) {
      const whole = this.source.buffer && !this.stopping;
      const text = whole
        ? `Finished: ${seconds(this.recording)} came back through the chain.`
        : `Stopped: ${seconds(this.recording)} came back through the chain.`;
      this.#state("finished", text);
    } else if (ended instanceof LiveEnded) {
      this.#state("closed", `Closed by the server: ${ended.message}`);
    } else {
      this.#state("error", `Live effects could not run: ${ended.message}`);
    }
    this.#release();
  }

  async #release() {
    for (const track of this.source.stream?.getTracks() || []) track.stop();
    this.graph.stopCapture();
    const drained = new Promise((resolve) => {
      this.drained = resolve;
      window.setTimeout(resolve, DRAIN_LIMIT_MS);
    });
    this.graph.endPlayback();
    await drained;
    await this.graph.close().catch(() => {});
    this.audioReleased = true;
    this.markReleased();
  }

  #state(state, text) {
    this.state = state;
    this.onState(state, text);
  }
}
