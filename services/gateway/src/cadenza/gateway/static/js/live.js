// One WebSocket to /api/v1/ws for the whole page: subscribe to jobs, get their events.
// It reconnects with backoff and re-subscribes; each subscription starts with a fresh
// job.snapshot, so whatever was missed while disconnected is made up for. Several parts of
// the page may follow one job (the progress panel and the jobs list): each handler hears
// every message, and one who joins late asks the server for a fresh snapshot for all.

import { liveUrl } from "./api.js";
import { refreshSession } from "./session.js";

const UNAUTHORIZED = 4401; // the gateway's close code for missing or expired credentials
const MAX_BACKOFF_MS = 10_000;

export class LiveConnection {
  constructor() {
    this.handlers = new Map(); // job id → Set of function(message)
    this.socket = null;
    this.backoffMs = 500;
    this.reconnectTimer = 0;
    this.onStateChange = () => {};
  }

  /** Open the socket ahead of the first job: its progress then shows from the start,
   * not from whenever a new connection happens to be ready. */
  connect() {
    this.#connect();
  }

  subscribe(jobId, handler) {
    const followed = this.handlers.get(jobId);
    if (followed?.has(handler)) return;
    if (followed) followed.add(handler);
    else this.handlers.set(jobId, new Set([handler]));
    if (!this.#open) {
      this.#connect();
      return;
    }
    // The server sends a snapshot once per subscription: to give the newcomer one, the
    // job is followed afresh (the others take the repeated snapshot as it is).
    if (followed) this.#send({ action: "unsubscribe", job_id: jobId });
    this.#send({ action: "subscribe", job_id: jobId });
  }

  /** Stop `handler` hearing the job; the server stops sending when no one listens. */
  unsubscribe(jobId, handler) {
    const followed = this.handlers.get(jobId);
    if (!followed?.delete(handler) || followed.size > 0) return;
    this.handlers.delete(jobId);
    if (this.#open) this.#send({ action: "unsubscribe", job_id: jobId });
  }

  get #open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  /** Drop the connection (sign-out); subscriptions are forgotten. */
  close() {
    this.handlers.clear();
    window.clearTimeout(this.reconnectTimer);
    if (this.socket) this.socket.close(1000, "signed out");
    this.socket = null;
  }

  #send(message) {
    this.socket.send(JSON.stringify(message));
  }

  #connect() {
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return; // connecting or open
    window.clearTimeout(this.reconnectTimer);
    const socket = new WebSocket(liveUrl());
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.backoffMs = 500;
      this.onStateChange("open");
      for (const jobId of this.handlers.keys()) this.#send({ action: "subscribe", job_id: jobId });
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      for (const handler of [...(this.handlers.get(message.job_id) || [])]) handler(message);
    });
    socket.addEventListener("close", (event) => this.#closed(socket, event));
  }

  async #closed(socket, event) {
    if (this.socket !== socket) return; // an older socket we already replaced
    this.socket = null;
    this.onStateChange("closed");
    if (this.handlers.size === 0) return;
    if (event.code === UNAUTHORIZED && !(await refreshSession())) return; // signed out
    this.reconnectTimer = window.setTimeout(() => this.#connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
  }
}
