// A waveform image of an audio file, drawn in the page: Web Audio decodes it, a canvas
// shows the loudest and quietest sample of each pixel column (all channels together).

const SAMPLE_RATE = 44100; // decodeAudioData resamples to this; plenty for a picture

/** Decode `bytes` (an ArrayBuffer; it is consumed) and draw it; returns the peak in dBFS. */
export async function drawWaveform(canvas, bytes) {
  // An offline context needs no user gesture (autoplay rules) and plays nothing.
  const context = new OfflineAudioContext(1, 1, SAMPLE_RATE);
  const audio = await context.decodeAudioData(bytes);
  const width = Math.max(1, Math.round((canvas.clientWidth || 640) * (window.devicePixelRatio || 1)));
  const height = Math.max(1, Math.round((canvas.clientHeight || 80) * (window.devicePixelRatio || 1)));
  canvas.width = width;
  canvas.height = height;
  const { lows, highs, peak } = columnExtremes(audio, width);
  const graphics = canvas.getContext("2d");
  const style = getComputedStyle(canvas);
  graphics.fillStyle = style.getPropertyValue("--wave-bg").trim() || "#eef3f9";
  graphics.fillRect(0, 0, width, height);
  graphics.fillStyle = style.getPropertyValue("--wave").trim() || "#1f5fa8";
  const middle = height / 2;
  for (let x = 0; x < width; x += 1) {
    // Float files may exceed full scale; the picture stops at its edges.
    const top = middle - Math.min(highs[x], 1) * middle;
    const bottom = middle - Math.max(lows[x], -1) * middle;
    graphics.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
  return peak > 0 ? 20 * Math.log10(peak) : -Infinity;
}

function columnExtremes(audio, columns) {
  const lows = new Float32Array(columns);
  const highs = new Float32Array(columns);
  const perColumn = audio.length / columns;
  let peak = 0;
  for (let channel = 0; channel < audio.numberOfChannels; channel += 1) {
    const samples = audio.getChannelData(channel);
    for (let x = 0; x < columns; x += 1) {
      const start = Math.floor(x * perColumn);
      const end = Math.max(start + 1, Math.floor((x + 1) * perColumn));
      let low = lows[x];
      let high = highs[x];
      for (let i = start; i < end && i < samples.length; i += 1) {
        const sample = samples[i];
        if (sample < low) low = sample;
        if (sample > high) high = sample;
      }
      lows[x] = low;
      highs[x] = high;
      peak = Math.max(peak, high, -low);
    }
  }
  return { lows, highs, peak };
}
