// Search-as-you-type over GET /api/v1/songs?q=: waits for a pause in typing, and a newer
// query aborts the one in flight so results never arrive out of order.

import { getJson } from "./api.js";
import { debounce, formatSeconds } from "./dom.js";

const PAUSE_MS = 200;

export function songTitle(song) {
  return song.artist ? `${song.title} — ${song.artist}` : song.title;
}

/** "A minor · 96 BPM · 3/4 · 1:05": what the catalog knows of the song's music. */
export function songFacts(song) {
  const facts = [];
  if (song.key) facts.push(`${song.key} ${song.mode || ""}`.trim());
  if (song.tempo_bpm) facts.push(`${Math.round(song.tempo_bpm)} BPM`);
  if (song.time_signature) facts.push(song.time_signature);
  if (song.duration_s) facts.push(formatSeconds(song.duration_s));
  return facts.join(" · ");
}

/**
 * Run a search whenever `input` changes; `onResults(hits, query)` gets [{song, score}].
 * Returns a function that searches now (e.g. to fill the list on load).
 */
export function attachSongSearch(input, { status, onResults, limit = 10 }) {
  let controller = null;
  const search = async () => {
    controller?.abort();
    controller = new AbortController();
    const query = input.value.trim();
    const params = new URLSearchParams({ limit: String(limit) });
    if (query) params.set("q", query);
    input.setAttribute("aria-busy", "true");
    try {
      const page = await getJson(`/api/v1/songs?${params}`, { signal: controller.signal });
      onResults(page.items, query);
      const count = page.items.length;
      if (query) {
        status.textContent = count ? `${count} ${count === 1 ? "song matches" : "songs match"} “${query}”.` : `No song matches “${query}”.`;
      } else {
        status.textContent = `${page.total} ${page.total === 1 ? "song" : "songs"} in the catalog.`;
      }
    } catch (error) {
      if (error.name !== "AbortError") status.textContent = `The search failed: ${error.message}`;
    } finally {
      input.removeAttribute("aria-busy");
    }
  };
  input.addEventListener("input", debounce(search, PAUSE_MS));
  return search;
}
