// The page's audio for a live session: an AudioContext at the session's rate, the source (a
// decoded file or the microphone) into the capture processor, and the playback processor to
// the speakers. Captured blocks come out through `onBlock`; processed ones go in with play().

export const SAMPLE_RATE = 48000;
export const CHANNELS = 2;

const WORKLET_URL = "/static/js/live-worklet.js";
// A file starts this far ahead, on a time that is a whole number of 1/128 s: exact in
// binary and a whole frame at 48 kHz, so the source and the capture agree to the sample.
const FILE_LEAD_S = 0.2;
const EXACT_STEP_S = 1 / 128;
const PLAYBACK_CAPACITY_S = 1;
// Played once a block and this much more are buffered: a late block then does not stutter.
const JITTER_MARGIN_S = 0.01;

const INSECURE = "browsers allow it on secure pages only (HTTPS, or this computer's own address)";

/** The microphone as it is, without the voice-call processing meant for speech. */
export async function openMicrophone() {
  if (!navigator.mediaDevices) throw new Error(INSECURE);
  return navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
}

/** A file's audio, decoded in the page (never uploaded) at the session's rate. */
export async function decodeFile(file) {
  const decoder = new OfflineAudioContext(CHANNELS, 1, SAMPLE_RATE);
  return decoder.decodeAudioData(await file.arrayBuffer());
}

export class LiveAudioGraph {
  /** Create it in the click's handler: browsers let a page start audio after a gesture. */
  constructor({ blockFrames, onBlock, onCaptureEnd, onFigures, onLate }) {
    this.blockFrames = blockFrames;
    this.handlers = { onBlock, onCaptureEnd, onFigures, onLate };
    this.context = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: "interactive" });
    this.source = null;
  }

  async prepare() {
    if (!this.context.audioWorklet) throw new Error(`live audio needs AudioWorklet: ${INSECURE}`);
    await this.context.audioWorklet.addModule(WORKLET_URL);
    this.capture = new AudioWorkletNode(this.context, "live-capture", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      // Explicit stereo: a mono source (most microphones) is copied to both channels.
      channelCount: CHANNELS,
      channelCountMode: "explicit",
      channelInterpretation: "speakers",
      processorOptions: { blockFrames: this.blockFrames },
    });
    this.playback = new AudioWorkletNode(this.context, "live-playback", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [CHANNELS],
      processorOptions: {
        capacityFrames: Math.round(PLAYBACK_CAPACITY_S * SAMPLE_RATE),
        prebufferFrames: this.blockFrames + Math.round(JITTER_MARGIN_S * SAMPLE_RATE),
      },
    });
    this.playback.connect(this.context.destination);
    this.capture.port.onmessage = ({ data }) => {
      if (data.type === "block") this.handlers.onBlock(data.samples);
      else if (data.type === "end") this.handlers.onCaptureEnd();
      else if (data.type === "late") this.handlers.onLate();
    };
    this.playback.port.onmessage = ({ data }) => this.handlers.onFigures(data);
    await this.context.resume();
  }

  /** Capture `buffer` from its first sample to its last; it is heard only through the chain. */
  startFile(buffer) {
    this.source = new AudioBufferSourceNode(this.context, { buffer });
    this.source.connect(this.capture);
    const steps = Math.ceil((this.context.currentTime + FILE_LEAD_S) / EXACT_STEP_S);
    const at = steps * EXACT_STEP_S;
    this.source.start(at);
    const frame = Math.round(at * SAMPLE_RATE);
    this.capture.port.postMessage({ type: "start", frame, frames: buffer.length });
  }

  startMicrophone(stream) {
    this.source = new MediaStreamAudioSourceNode(this.context, { mediaStream: stream });
    this.source.connect(this.capture);
    this.capture.port.postMessage({ type: "start", frame: null, frames: null });
  }

  /** Queue a processed block (a copy: the caller keeps the original for the recording). */
  play(samples) {
    const copy = samples.slice();
    this.playback.port.postMessage({ type: "block", samples: copy.buffer }, [copy.buffer]);
  }

  /** No more blocks will come: play what is buffered, then fall silent without underruns. */
  endPlayback() {
    this.playback?.port.postMessage({ type: "end" });
  }

  /** Stop capturing now; the last partial block comes out zero-padded, then the end. */
  stopCapture() {
    this.capture?.port.postMessage({ type: "stop" });
  }

  async close() {
    this.source?.disconnect();
    if (this.context.state !== "closed") await this.context.close();
  }
}
