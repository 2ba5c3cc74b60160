// Calls to the REST API: the bearer token when signed in, one refresh and retry on a 401,
// and errors as ApiError carrying the API's sentence (and per-field errors for 422s).

import { refreshSession, session } from "./session.js";

export class ApiError extends Error {
  constructor(status, detail, fieldErrors = []) {
    super(detail);
    this.status = status;
    this.fieldErrors = fieldErrors;
  }
}

function withAuthorization(headers = {}) {
  const result = new Headers(headers);
  const token = session.accessToken;
  if (token) result.set("Authorization", `Bearer ${token}`);
  return result;
}

async function errorOf(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's page): the status line has to do
  }
  const detail = typeof body.detail === "string" ? body.detail : `${response.status} ${response.statusText}`;
  return new ApiError(response.status, detail, Array.isArray(body.errors) ? body.errors : []);
}

/** fetch() with credentials; a 401 refreshes the session once and repeats the request. */
export async function send(path, options = {}) {
  const attempt = () => fetch(path, { ...options, headers: withAuthorization(options.headers) });
  let response = await attempt();
  if (response.status === 401 && session.refreshToken && (await refreshSession())) {
    response = await attempt();
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function getJson(path, options = {}) {
  return (await send(path, options)).json();
}

export async function postJson(path, body) {
  const response = await send(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.status === 204 ? null : response.json();
}

/** A download's bytes, with credentials (media elements and links cannot send headers). */
export async function fetchBlob(path, options = {}) {
  return (await send(path, options)).blob();
}

/**
 * POST a file to /api/v1/uploads (into a project, if given: its members see it) with upload
 * progress (fetch cannot report it, so this is an XMLHttpRequest). Resolves with the
 * upload's metadata.
 */
export function uploadFile(file, onProgress, projectId = "") {
  const url = projectId ? `/api/v1/uploads?project_id=${encodeURIComponent(projectId)}` : "/api/v1/uploads";
  const once = () =>
    new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", url);
      const token = session.accessToken;
      if (token) request.setRequestHeader("Authorization", `Bearer ${token}`);
      request.responseType = "json";
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      request.addEventListener("load", () => resolve(request));
      request.addEventListener("error", () => reject(new ApiError(0, "the upload failed: the server could not be reached")));
      const form = new FormData();
      form.append("file", file, file.name);
      request.send(form);
    });
  return (async () => {
    let request = await once();
    if (request.status === 401 && session.refreshToken && (await refreshSession())) {
      request = await once();
    }
    const body = request.response || {};
    if (request.status !== 201) {
      const detail = typeof body.detail === "string" ? body.detail : `upload failed (${request.status})`;
      throw new ApiError(request.status, detail, body.errors || []);
    }
    onProgress(1);
    return body;
  })();
}

/** A WebSocket URL, with the access token in the query (browsers cannot set headers). */
export function webSocketUrl(path) {
  const url = new URL(path, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const token = session.accessToken;
  if (token) url.searchParams.set("access_token", token);
  return url.toString();
}

/** The job events WebSocket. */
export function liveUrl() {
  return webSocketUrl("/api/v1/ws");
}
