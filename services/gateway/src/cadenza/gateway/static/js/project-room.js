// One project's room: the WebSocket /api/v1/projects/{id}/ws. It hands the snapshot and
// every message to the view, sends presence (at most PRESENCE_PER_SECOND, the latest one
// wins) and the shared mix's updates as binary frames, and says why it closed.

import { webSocketUrl } from "./api.js";
import { refreshSession } from "./session.js";

// The server takes 10 a second per connection; stay under it.
const PRESENCE_GAP_MS = 150;
const RECONNECT_MS = [1000, 2000, 5000, 10000];

/** Why the server ended the socket, by close code: a sentence, and whether to reconnect. */
export const CLOSE_REASONS = {
  4401: { text: "Your session has ended: sign in again to rejoin the project.", retry: false },
  4403: { text: "You were removed from this project.", retry: false },
  4404: { text: "This project does not exist, or you are not a member of it.", retry: false },
  4429: { text: "You have too many connections to this project open: close another tab.", retry: false },
};

export class ProjectRoom {
  /**
   * @param {string} projectId
   * @param {{onSnapshot: Function, onMessage: Function, onStatus: Function, onClosed: Function}} handlers
   */
  constructor(projectId, handlers) {
    this.projectId = projectId;
    this.handlers = handlers;
    this.socket = null;
    this.closed = false;
    this.attempt = 0;
    this.presence = null;
    this.presenceTimer = 0;
    this.lastPresenceAt = 0;
    this.refreshed = false;
  }

  open() {
    if (this.closed) return;
    const socket = new WebSocket(webSocketUrl(`/api/v1/projects/${encodeURIComponent(this.projectId)}/ws`));
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.handlers.onStatus("Connecting to the project…");
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "session.snapshot") {
        this.attempt = 0;
        this.refreshed = false;
        this.handlers.onStatus("Connected: changes from the others appear as they happen.");
        this.handlers.onSnapshot(message.data, message.user_id);
        if (this.presence) this.flushPresence();
      } else {
        this.handlers.onMessage(message);
      }
    });
    socket.addEventListener("close", (event) => this.closedWith(socket, event.code));
  }

  async closedWith(socket, code) {
    if (socket !== this.socket || this.closed) return;
    this.socket = null;
    if (code === 4401 && !this.refreshed) {
      this.refreshed = true; // the access token expired: one refresh, then try again
      if (await refreshSession()) {
        this.open();
        return;
      }
    }
    const known = CLOSE_REASONS[code];
    if (known && !known.retry) {
      this.closed = true;
      this.handlers.onClosed(code, known.text);
      return;
    }
    const wait = RECONNECT_MS[Math.min(this.attempt, RECONNECT_MS.length - 1)];
    this.attempt += 1;
    this.handlers.onStatus(`Connection lost: trying again in ${Math.round(wait / 1000)} s…`);
    window.setTimeout(() => this.open(), wait);
  }

  get connected() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  /** Tell the others our state ("active" or "idle") and what we look at; throttled. */
  setPresence(state, lookingAt) {
    this.presence = { state, looking_at: lookingAt || null };
    const wait = this.lastPresenceAt + PRESENCE_GAP_MS - performance.now();
    if (wait <= 0) {
      this.flushPresence();
    } else if (!this.presenceTimer) {
      this.presenceTimer = window.setTimeout(() => this.flushPresence(), wait);
    }
  }

  flushPresence() {
    this.presenceTimer = 0;
    if (!this.presence || !this.connected) return;
    const data = { state: this.presence.state };
    if (this.presence.looking_at) data.looking_at = this.presence.looking_at;
    this.socket.send(JSON.stringify({ type: "presence", data }));
    this.lastPresenceAt = performance.now();
  }

  /** One Yjs update (a Uint8Array) as a binary frame; false when not connected. */
  sendBinary(bytes) {
    if (!this.connected) return false;
    this.socket.send(bytes);
    return true;
  }

  close() {
    this.closed = true;
    window.clearTimeout(this.presenceTimer);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, "left the project view");
    }
  }
}
