// WAV files built in the page: 32-bit float samples (WAVE_FORMAT_IEEE_FLOAT), interleaved,
// written straight from the Float32Arrays, with no copy of the audio.

const IEEE_FLOAT = 3;
const HEADER_BYTES = 58; // RIFF, fmt (18 bytes), fact, data headers

/** A Blob of `frames` frames taken from `chunks` (interleaved Float32Arrays) in order. */
export function floatWavBlob(chunks, frames, { sampleRate, channels }) {
  const dataBytes = frames * channels * 4;
  const header = new DataView(new ArrayBuffer(HEADER_BYTES));
  const text = (at, value) => [...value].forEach((c, i) => header.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF");
  header.setUint32(4, HEADER_BYTES - 8 + dataBytes, true);
  text(8, "WAVE");
  text(12, "fmt ");
  header.setUint32(16, 18, true);
  header.setUint16(20, IEEE_FLOAT, true);
  header.setUint16(22, channels, true);
  header.setUint32(24, sampleRate, true);
  header.setUint32(28, sampleRate * channels * 4, true);
  header.setUint16(32, channels * 4, true);
  header.setUint16(34, 32, true);
  header.setUint16(36, 0, true); // no extension
  text(38, "fact"); // required for non-PCM formats: the length in frames
  header.setUint32(42, 4, true);
  header.setUint32(46, frames, true);
  text(50, "data");
  header.setUint32(54, dataBytes, true);

  const parts = [header];
  let left = frames * channels;
  for (const chunk of chunks) {
    if (left <= 0) break;
    parts.push(chunk.length <= left ? chunk : chunk.subarray(0, left));
    left -= chunk.length;
  }
  return new Blob(parts, { type: "audio/wav" });
}
