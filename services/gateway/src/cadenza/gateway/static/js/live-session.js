// One session on WS /api/v1/live (its protocol is in the gateway's api/routes/live_audio.py):
// open with a chain and a format, send blocks and get each one back processed, in order;
// `set` and `chain` change the effects between blocks; every close the server makes comes
// with a reason sentence, sent as a "closed" message just before it.

import { webSocketUrl } from "./api.js";

// How many blocks may be unanswered: the gateway's LIVE_MAX_IN_FLIGHT, which its "ready"
// message says (8 unless configured). A block past it would only wait there, so a late one is
// dropped here instead of queueing without bound.
const DEFAULT_MAX_IN_FLIGHT = 8;

const CLOSE_REASONS = {
  1006: "the connection to the server was lost",
  4401: "sign in again: the server did not accept the credentials",
};

/** How a session ended: the close code and the server's sentence. */
export class LiveEnded extends Error {
  constructor(code, reason) {
    super(reason);
    this.code = code;
  }
}

export class LiveSession {
  constructor({ onBlock, onEnded }) {
    this.onBlock = onBlock; // (Float32Array, round trip in ms)
    this.onEnded = onEnded; // (LiveEnded), after "ready" only: before it, open() rejects
    this.socket = null;
    this.sent = 0;
    this.received = 0;
    this.sentAt = []; // send times of the blocks in flight, oldest first
    this.closedMessage = null;
    this.allBack = null;
    this.maxInFlight = DEFAULT_MAX_IN_FLIGHT;
  }

  get inFlight() {
    return this.sent - this.received;
  }

  /** Connect and open; resolves with the server's "ready" message, or rejects with LiveEnded. */
  open(chain, format) {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(webSocketUrl("/api/v1/live"));
      socket.binaryType = "arraybuffer";
      this.socket = socket;
      let ready = false;
      socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "open", chain, format })));
      socket.addEventListener("message", ({ data }) => {
        if (typeof data !== "string") {
          this.#received(data);
          return;
        }
        const message = JSON.parse(data);
        if (message.type === "ready") {
          ready = true;
          if (Number.isInteger(message.max_in_flight) && message.max_in_flight > 0) this.maxInFlight = message.max_in_flight;
          resolve(message);
        } else if (message.type === "closed") {
          this.closedMessage = message;
        }
      });
      socket.addEventListener("close", (event) => {
        const reason = this.closedMessage?.reason || event.reason || CLOSE_REASONS[event.code] || `closed (${event.code})`;
        const ended = new LiveEnded(event.code, reason);
        this.allBack?.resolve();
        if (ready) this.onEnded(ended);
        else reject(ended);
      });
    });
  }

  /** Send a captured block; false (and nothing sent) when maxInFlight are unanswered. */
  send(samples) {
    if (this.socket?.readyState !== WebSocket.OPEN || this.inFlight >= this.maxInFlight) return false;
    this.socket.send(samples);
    this.sentAt.push(performance.now());
    this.sent += 1;
    return true;
  }

  set(index, params) {
    this.#control({ type: "set", index, params });
  }

  replaceChain(chain) {
    this.#control({ type: "chain", chain });
  }

  /** Resolves once every block sent has come back (or the socket closed). */
  whenAllBack() {
    if (this.inFlight === 0 || this.socket?.readyState !== WebSocket.OPEN) return Promise.resolve();
    if (!this.allBack) {
      let resolve;
      const promise = new Promise((done) => {
        resolve = done;
      });
      this.allBack = { promise, resolve };
    }
    return this.allBack.promise;
  }

  /** End the session: a "close" message when open (the server then closes with 1000). */
  close() {
    if (this.socket?.readyState === WebSocket.OPEN) this.#control({ type: "close" });
    else this.socket?.close(1000);
  }

  #control(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  #received(data) {
    const roundTripMs = performance.now() - this.sentAt.shift();
    this.received += 1;
    this.onBlock(new Float32Array(data), roundTripMs);
    if (this.inFlight === 0 && this.allBack) {
      this.allBack.resolve();
      this.allBack = null;
    }
  }
}
