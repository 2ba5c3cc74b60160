// The stem mixer's audio graph, the same for listening and for "download this mix": each
// stem's AudioBuffer plays through its own GainNode into one bus, every source started at
// the same context time with the same offset (sample-accurate: the graph, not timers, keeps
// them together). Rendered in an OfflineAudioContext, the bus is the file that is saved.

import { floatWavBlob } from "./wav-file.js";

/**
 * What each stem is heard at: its volume, or 0 when muted, or when some stem is soloed and
 * it is not. (A soloed stem that is also muted stays silent.)
 * `stems`: [{volume, solo, mute}]; returns the gains in the same order.
 */
export function effectiveGains(stems) {
  const soloing = stems.some((stem) => stem.solo);
  return stems.map((stem) => {
    if (stem.mute) return 0;
    if (soloing && !stem.solo) return 0;
    return stem.volume;
  });
}

/**
 * Connect the stems to `destination` in `context` and start them together: at `when`
 * (context time) from `offset` seconds into the song. Returns the sources and gain nodes,
 * and what was scheduled (one start time and offset for all, recorded for the tests).
 */
export function connectStems(context, stems, destination, { when = 0, offset = 0 } = {}) {
  const gains = effectiveGains(stems);
  const started = [];
  const voices = stems.map((stem, index) => {
    const source = new AudioBufferSourceNode(context, { buffer: stem.buffer });
    const gain = new GainNode(context, { gain: gains[index] });
    source.connect(gain).connect(destination);
    if (offset < stem.buffer.duration) {
      source.start(when, offset);
      started.push({ name: stem.name, when, offset });
    }
    return { source, gain };
  });
  return { voices, started };
}

/** The longest stem's length in frames and the most channels any stem has. */
export function mixShape(stems) {
  return {
    frames: Math.max(0, ...stems.map((stem) => stem.buffer.length)),
    channels: Math.max(1, ...stems.map((stem) => stem.buffer.numberOfChannels)),
  };
}

/**
 * The mix as the mixer plays it, rendered offline (faster than real time, nothing heard):
 * an AudioBuffer at the stems' sample rate, as long as the longest stem.
 */
export async function renderMix(stems, sampleRate) {
  const { frames, channels } = mixShape(stems);
  const context = new OfflineAudioContext({ numberOfChannels: channels, length: Math.max(1, frames), sampleRate });
  connectStems(context, stems, context.destination);
  return context.startRendering();
}

// Interleaved in slices, so that no second copy of the whole mix is held at once beside
// the Blob being built.
const SLICE_FRAMES = 65536;

/** A 32-bit float WAV of an AudioBuffer (wav-file.js writes the header). */
export function wavOfBuffer(buffer) {
  const channels = buffer.numberOfChannels;
  const planes = Array.from({ length: channels }, (_, c) => buffer.getChannelData(c));
  const chunks = [];
  for (let start = 0; start < buffer.length; start += SLICE_FRAMES) {
    const frames = Math.min(SLICE_FRAMES, buffer.length - start);
    const chunk = new Float32Array(frames * channels);
    for (let c = 0; c < channels; c += 1) {
      const plane = planes[c];
      for (let i = 0; i < frames; i += 1) chunk[i * channels + c] = plane[start + i];
    }
    chunks.push(chunk);
  }
  return floatWavBlob(chunks, buffer.length, { sampleRate: buffer.sampleRate, channels });
}
