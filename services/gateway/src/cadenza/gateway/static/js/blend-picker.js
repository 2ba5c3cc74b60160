// Choosing 2 to 5 catalog songs for a blend, found by typing part of a title or artist.

import { announce, byId, h } from "./dom.js";
import { attachSongSearch, songFacts, songTitle } from "./song-search.js";

export const MIN_SONGS = 2;
export const MAX_SONGS = 5;

export class BlendPicker {
  constructor() {
    this.chosen = new Map(); // song id → song
    this.results = byId("blend-results");
    this.chosenList = byId("blend-chosen");
    this.empty = byId("blend-chosen-empty");
    this.hits = [];
    const input = byId("blend-search");
    // Enter in the search box searches; it must not submit the whole job form.
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.search();
      }
    });
    this.search = attachSongSearch(input, {
      status: byId("blend-search-status"),
      onResults: (hits) => {
        this.hits = hits;
        this.#renderResults();
      },
    });
  }

  /** Add a song; false (with the reason announced) when the blend is full. */
  add(song) {
    if (this.chosen.has(song.id)) return true;
    if (this.chosen.size >= MAX_SONGS) {
      announce(`A blend takes at most ${MAX_SONGS} songs; remove one first.`);
      return false;
    }
    this.chosen.set(song.id, song);
    this.#render();
    announce(`${songTitle(song)} added to the blend (${this.chosen.size} chosen)`);
    return true;
  }

  remove(id) {
    const song = this.chosen.get(id);
    this.chosen.delete(id);
    this.#render();
    if (song) announce(`${songTitle(song)} removed from the blend`);
  }

  ids() {
    return [...this.chosen.keys()];
  }

  #render() {
    this.#renderChosen();
    this.#renderResults();
  }

  #renderResults() {
    this.results.replaceChildren(
      ...this.hits.map(({ song }) => {
        const added = this.chosen.has(song.id);
        return h(
          "li",
          { dataset: { songId: song.id } },
          h("span", {}, songTitle(song)),
          h("span", { className: "song-meta" }, songFacts(song)),
          h(
            "button",
            {
              type: "button",
              disabled: added,
              aria: { label: added ? `${songTitle(song)} is in the blend` : `Add ${songTitle(song)} to the blend` },
              onclick: (event) => {
                if (this.add(song)) {
                  // The pressed button is now disabled: keep the keyboard in the list.
                  const item = this.results.querySelector(`[data-song-id="${song.id}"]`);
                  (item?.nextElementSibling?.querySelector("button:not(:disabled)") || byId("blend-search")).focus();
                }
                event.preventDefault();
              },
            },
            added ? "Added" : "Add",
          ),
        );
      }),
    );
  }

  #renderChosen() {
    this.chosenList.replaceChildren(
      ...[...this.chosen.values()].map((song) =>
        h(
          "li",
          { dataset: { songId: song.id } },
          h("span", {}, songTitle(song)),
          h("span", { className: "song-meta" }, songFacts(song)),
          h(
            "button",
            {
              type: "button",
              aria: { label: `Remove ${songTitle(song)} from the blend` },
              onclick: () => {
                this.remove(song.id);
                byId("blend-search").focus();
              },
            },
            "Remove",
          ),
        ),
      ),
    );
    this.empty.hidden = this.chosen.size > 0;
  }
}
