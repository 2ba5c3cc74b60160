// The catalog browser: search as you type, a song's analysis (key, tempo, meter…), its
// files, and the songs most similar to it.

import { fetchBlob, getJson } from "./api.js";
import { downloadLink } from "./artifacts.js";
import { byId, detailsList, formatSeconds, h } from "./dom.js";
import { session } from "./session.js";
import { SongPreview } from "./song-preview.js";
import { attachSongSearch, songFacts, songTitle } from "./song-search.js";

const SIMILAR = 5;

export class CatalogBrowser {
  constructor({ onAddToBlend }) {
    this.onAddToBlend = onAddToBlend;
    this.results = byId("catalog-results");
    this.detail = byId("song-detail");
    this.objectUrls = [];
    this.opened = null;
    this.search = attachSongSearch(byId("catalog-search"), {
      status: byId("catalog-status"),
      limit: 20,
      onResults: (hits) => this.results.replaceChildren(...hits.map(({ song }) => this.#songItem(song))),
    });
  }

  #songItem(song, similarity = null) {
    const facts = songFacts(song);
    return h(
      "li",
      { dataset: { songId: song.id } },
      h("button", { type: "button", className: "song-open", onclick: () => this.open(song.id) }, songTitle(song)),
      h("span", { className: "song-meta" }, [facts, similarity === null ? "" : `${Math.round(similarity * 100)}% similar`].filter(Boolean).join(" · ")),
    );
  }

  /** Show one song and its nearest neighbours; the heading takes the focus. */
  async open(songId) {
    this.opened = songId;
    const [song, similar] = await Promise.all([
      getJson(`/api/v1/songs/${songId}`),
      getJson(`/api/v1/songs/${songId}/similar?k=${SIMILAR}`),
    ]);
    if (this.opened !== songId) return; // another song was opened meanwhile
    for (const url of this.objectUrls) URL.revokeObjectURL(url);
    this.objectUrls = [];
    const track = (url) => this.objectUrls.push(url);
    const heading = h("h3", { tabIndex: -1, id: "song-detail-title" }, song.title);
    const assets = song.assets.map((asset) =>
      downloadLink(`/api/v1/songs/${song.id}/assets/${asset.name}`, asset.filename, track),
    );
    const similarList = h(
      "ul",
      { className: "song-results", aria: { labelledby: "similar-title" } },
      similar.items.map(({ song: other, score }) => this.#songItem(other, score)),
    );
    const parts = [
      heading,
      h("p", {}, song.artist || "Unknown artist"),
      detailsList([
        ["Key", song.key ? `${song.key} ${song.mode || ""}`.trim() : null],
        ["Tempo", song.tempo_bpm ? `${Math.round(song.tempo_bpm)} BPM` : null],
        ["Time signature", song.time_signature],
        ["Duration", song.duration_s ? formatSeconds(song.duration_s) : null],
        ["Tags", song.tags.join(", ")],
        ["Source", song.source],
      ]),
      this.#player(song, track),
      h("div", { className: "actions" },
        ...assets,
        h("button", { type: "button", aria: { label: `Add ${songTitle(song)} to the blend` }, onclick: () => this.onAddToBlend(song) }, "Add to blend"),
      ),
      h("h4", { id: "similar-title" }, "Similar songs"),
      similar.items.length ? similarList : h("p", { className: "muted" }, "No similar songs yet."),
    ];
    this.detail.replaceChildren(...parts.filter(Boolean));
    this.detail.hidden = false;
    heading.focus();
  }

  #player(song, track) {
    if (song.assets.some((a) => a.name === "midi")) return new SongPreview(song, track).element;
    const asset = song.assets.find((a) => a.name === "audio");
    if (!asset) return null;
    const url = `/api/v1/songs/${song.id}/assets/audio`;
    const audio = h("audio", { controls: true, preload: "metadata", aria: { label: `Play ${song.title}` } });
    if (session.signedIn) {
      fetchBlob(url).then((blob) => {
        const blobUrl = URL.createObjectURL(blob);
        track(blobUrl);
        audio.src = blobUrl;
      }, () => {});
    } else {
      audio.src = url;
    }
    return audio;
  }
}
