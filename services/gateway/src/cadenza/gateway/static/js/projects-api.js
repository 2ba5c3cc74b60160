// The projects REST API (shared workspaces): thin calls over api.js, so errors arrive as
// ApiError with the server's sentence.

import { getJson, postJson, send } from "./api.js";

const BASE = "/api/v1/projects";

async function sendJson(method, path, body) {
  const response = await send(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.status === 204 ? null : response.json();
}

const at = (id, rest = "") => `${BASE}/${encodeURIComponent(id)}${rest}`;

export const projectsApi = {
  list: (archived = false) => getJson(`${BASE}?limit=100${archived ? "&archived=true" : ""}`),
  create: (settings) => postJson(BASE, settings),
  read: (id) => getJson(at(id)),
  update: (id, changes) => sendJson("PATCH", at(id), changes),
  archive: (id) => postJson(at(id, "/archive"), {}),
  restore: (id) => postJson(at(id, "/restore"), {}),
  activity: (id) => getJson(at(id, "/activity?limit=50")),
  members: (id) => getJson(at(id, "/members")),
  changeRole: (id, accountId, role) =>
    sendJson("PATCH", at(id, `/members/${encodeURIComponent(accountId)}`), { role }),
  removeMember: (id, accountId) =>
    sendJson("DELETE", at(id, `/members/${encodeURIComponent(accountId)}`)),
  leave: (id) => sendJson("POST", at(id, "/leave")),
  invite: (id, invitation) => postJson(at(id, "/invitations"), invitation),
  invitations: (id) => getJson(at(id, "/invitations?limit=100")),
  revoke: (id, invitationId) =>
    sendJson("DELETE", at(id, `/invitations/${encodeURIComponent(invitationId)}`)),
  myInvitations: () => getJson("/api/v1/invitations"),
  answer: (invitationId, accept) =>
    postJson(`/api/v1/invitations/${encodeURIComponent(invitationId)}/${accept ? "accept" : "decline"}`, {}),
  comments: (id) => getJson(at(id, "/comments?limit=100")),
  comment: (id, comment) => postJson(at(id, "/comments"), comment),
  resolveComment: (id, commentId, resolved) =>
    postJson(at(id, `/comments/${encodeURIComponent(commentId)}/${resolved ? "resolve" : "reopen"}`), {}),
  approvals: (id) => getJson(at(id, "/approvals?limit=100")),
  approve: (id, approval) => postJson(at(id, "/approvals"), approval),
  mixJob: (id, jobId) => postJson(at(id, "/mix/jobs"), { job_id: jobId, master: false }),
};

/** Who may do what, as projects/roles.py decides it (the server checks again). */
export const MANAGERS = new Set(["owner", "admin"]);
export const MAKERS = new Set(["owner", "admin", "producer", "artist"]);
export const GRANTABLE = ["admin", "producer", "artist", "reviewer"];

/** Whether `manager` may change or remove a member whose role is `role`. */
export function mayManage(manager, role) {
  if (manager === "owner") return role !== "owner";
  if (manager === "admin") return role !== "owner" && role !== "admin";
  return false;
}
