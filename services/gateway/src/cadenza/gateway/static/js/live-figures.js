// The live panel's figures: round-trip latency (block sent → the same block back) as p50
// and p99 over every block of the run, blocks sent and received, underruns and drops.

import { byId } from "./dom.js";

const BIN_MS = 0.1;
const LONGEST_MS = 5000; // longer round trips count as this long

/** Round trips of every block of a run, kept as a histogram of 0.1 ms bins: an hour of
 * 10 ms blocks costs no more memory, or time per percentile, than a second of them. */
export class RoundTrips {
  constructor() {
    this.counts = new Uint32Array(LONGEST_MS / BIN_MS + 1);
    this.count = 0;
  }

  add(ms) {
    const bin = Math.min(Math.max(Math.ceil(ms / BIN_MS), 0), this.counts.length - 1);
    this.counts[bin] += 1;
    this.count += 1;
  }

  /** The p-th percentile (0–100) in ms, nearest rank; null before the first block. */
  percentile(p) {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let bin = 0; bin < this.counts.length; bin += 1) {
      seen += this.counts[bin];
      if (seen >= rank) return bin * BIN_MS;
    }
    return LONGEST_MS;
  }
}

function showCount(element, value) {
  element.dataset.value = String(value);
  element.textContent = String(value);
}

export class LiveFigures {
  constructor() {
    this.latency = byId("live-latency");
    this.sent = byId("live-sent");
    this.received = byId("live-received");
    this.underruns = byId("live-underruns");
    this.dropped = byId("live-dropped");
    this.list = byId("live-figures");
  }

  /** `final`: the run's audio has played out, nothing will change any more. */
  show({ sent, received, roundTrips, underruns, dropped, playedFrames, final }) {
    this.list.dataset.playedFrames = String(playedFrames);
    this.list.dataset.final = String(final);
    const p50 = roundTrips.percentile(50);
    const p99 = roundTrips.percentile(99);
    if (p50 === null) {
      this.latency.textContent = "–";
      delete this.latency.dataset.p50Ms;
      delete this.latency.dataset.p99Ms;
    } else {
      this.latency.dataset.p50Ms = p50.toFixed(2);
      this.latency.dataset.p99Ms = p99.toFixed(2);
      this.latency.textContent = `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`;
    }
    showCount(this.sent, sent);
    showCount(this.received, received);
    showCount(this.underruns, underruns);
    showCount(this.dropped, dropped);
  }
}
