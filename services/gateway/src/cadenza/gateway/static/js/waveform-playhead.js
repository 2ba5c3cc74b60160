// A playhead over a result's waveform: it follows the player, and a click on the waveform
// seeks there (the player's own controls do the same from the keyboard). Its place is a
// custom property set through the CSSOM (--at, 0 to 1): the CSP forbids style attributes,
// not that.

import { h } from "./dom.js";

/** Wrap `canvas` with a playhead that follows `audio`; returns the wrapper to append. */
export function withPlayhead(audio, canvas) {
  const head = h("span", { className: "playhead", aria: { hidden: "true" } });
  const wrap = h("div", { className: "waveform-wrap" }, canvas, head);
  let frame = 0;
  const place = () => {
    const fraction = audio.duration > 0 ? audio.currentTime / audio.duration : 0;
    wrap.style.setProperty("--at", String(Math.min(1, Math.max(0, fraction))));
    wrap.dataset.at = fraction.toFixed(4);
  };
  const follow = () => {
    place();
    frame = audio.paused ? 0 : window.requestAnimationFrame(follow);
  };
  audio.addEventListener("play", () => {
    window.cancelAnimationFrame(frame);
    follow();
  });
  for (const event of ["pause", "seeked", "timeupdate", "loadedmetadata", "ended"]) {
    audio.addEventListener(event, place);
  }
  canvas.addEventListener("click", (event) => {
    if (!(audio.duration > 0)) return;
    const box = canvas.getBoundingClientRect();
    audio.currentTime = ((event.clientX - box.left) / box.width) * audio.duration;
    place();
  });
  return wrap;
}
