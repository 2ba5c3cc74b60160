// A track's waveform in the shared mixer, from the stem the page decoded, with the time
// ranges that comments point at drawn over it; dragging across it picks a range to
// comment on (the comment form's fields do the same from the keyboard).

/** Draw `buffer` on `canvas`, and over it each range {start_s, end_s, resolved}. */
export function drawTrackWave(canvas, buffer, ranges) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round((canvas.clientWidth || 320) * ratio));
  const height = Math.max(1, Math.round((canvas.clientHeight || 48) * ratio));
  canvas.width = width;
  canvas.height = height;
  const graphics = canvas.getContext("2d");
  const style = getComputedStyle(canvas);
  graphics.fillStyle = style.getPropertyValue("--wave-bg").trim() || "#eef3f9";
  graphics.fillRect(0, 0, width, height);
  const duration = buffer.duration || 1;
  const perColumn = buffer.length / width;
  const middle = height / 2;
  graphics.fillStyle = style.getPropertyValue("--wave").trim() || "#1f5fa8";
  const channels = Array.from({ length: buffer.numberOfChannels }, (_, c) => buffer.getChannelData(c));
  // At most this many samples looked at per column: a long stem draws as fast as a short one.
  const step = Math.max(1, Math.floor(perColumn / 256));
  for (let x = 0; x < width; x += 1) {
    const start = Math.floor(x * perColumn);
    const end = Math.max(start + 1, Math.floor((x + 1) * perColumn));
    let low = 0;
    let high = 0;
    for (const samples of channels) {
      for (let i = start; i < end && i < samples.length; i += step) {
        if (samples[i] < low) low = samples[i];
        if (samples[i] > high) high = samples[i];
      }
    }
    const top = middle - Math.min(high, 1) * middle;
    const bottom = middle - Math.max(low, -1) * middle;
    graphics.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
  const hot = style.getPropertyValue("--hot").trim() || "#d9480f";
  for (const range of ranges) {
    const from = (Math.max(0, range.start_s) / duration) * width;
    const to = ((range.end_s ?? range.start_s) / duration) * width;
    graphics.globalAlpha = range.resolved ? 0.15 : 0.35;
    graphics.fillStyle = hot;
    graphics.fillRect(from, 0, Math.max(2 * ratio, to - from), height);
  }
  graphics.globalAlpha = 1;
  canvas.dataset.ranges = ranges.map((r) => `${r.start_s}-${r.end_s ?? r.start_s}`).join(" ");
}

/** Call `onRange(start_s, end_s)` when a pointer drags (or clicks) across `canvas`. */
export function pickRanges(canvas, duration, onRange) {
  let from = null;
  const seconds = (event) => {
    const box = canvas.getBoundingClientRect();
    const x = Math.min(Math.max(event.clientX - box.left, 0), box.width);
    return Math.round((x / (box.width || 1)) * duration() * 10) / 10;
  };
  canvas.addEventListener("pointerdown", (event) => {
    from = seconds(event);
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointerup", (event) => {
    if (from === null) return;
    const to = seconds(event);
    onRange(Math.min(from, to), Math.max(from, to));
    from = null;
  });
}
