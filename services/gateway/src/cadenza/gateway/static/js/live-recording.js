// What came back from a live session, kept in order as it arrived, and saved as a WAV file
// ("what you heard"), trimmed to the source's length when it has one.

import { floatWavBlob } from "./wav-file.js";

// 48 kHz stereo float is 384 KB a second: ten minutes is 230 MB of memory, enough.
export const MAX_RECORDING_S = 600;

export class Recording {
  constructor({ sampleRate, channels }) {
    this.format = { sampleRate, channels };
    this.maxFrames = MAX_RECORDING_S * sampleRate;
    this.chunks = [];
    this.frames = 0;
    this.full = false;
  }

  get seconds() {
    return this.frames / this.format.sampleRate;
  }

  add(samples) {
    const frames = samples.length / this.format.channels;
    if (this.frames + frames > this.maxFrames) {
      this.full = true;
      return;
    }
    this.chunks.push(samples);
    this.frames += frames;
  }

  /** The WAV file, at most `maxFrames` long (a file source's own length). */
  wav(maxFrames = Infinity) {
    return floatWavBlob(this.chunks, Math.min(this.frames, maxFrames), this.format);
  }
}
