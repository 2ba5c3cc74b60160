// A project's comments (anchored to a track and a time range, in threads, resolved or
// open) and approvals (a reviewer's decision on an artifact). Hidden while the gateway has
// no comments API (it answers 404 for the route).

import { announce, formatSeconds, formatTime, h } from "./dom.js";
import { projectsApi } from "./projects-api.js";

const BODY_MAX = 2000;
const SHOWN = 200;

function range(anchor) {
  if (!anchor) return "";
  const parts = [];
  if (anchor.track) parts.push(anchor.track);
  if (anchor.artifact) parts.push(anchor.artifact);
  if (anchor.start_s !== undefined && anchor.start_s !== null) {
    const end = anchor.end_s !== undefined && anchor.end_s !== null ? `–${formatSeconds(anchor.end_s)}` : "";
    parts.push(`${formatSeconds(anchor.start_s)}${end}`);
  }
  return parts.join(", ");
}

export class ProjectComments {
  constructor(projectId, { nameOf, tracks }) {
    this.projectId = projectId;
    this.nameOf = nameOf;
    this.tracks = tracks;
    this.role = "reviewer";
    this.archived = false;
    this.comments = new Map();
    this.list = h("ol", { id: "project-comments", className: "project-comments", aria: { labelledby: "comments-title" } });
    this.error = h("p", { id: "comments-error", className: "error", role: "alert" });
    this.form = this.commentForm(null);
    this.approvals = h("ul", { id: "project-approvals", className: "project-approvals", aria: { labelledby: "approvals-title" } });
    this.approvalForm = this.makeApprovalForm();
    this.element = h("section", { id: "project-comments-part", className: "project-part", hidden: true, aria: { labelledby: "comments-title" } },
      h("h4", { id: "comments-title" }, "Comments"), this.form, this.error, this.list,
      h("h4", { id: "approvals-title" }, "Approvals"), this.approvalForm, this.approvals);
  }

  setRole(role, archived) {
    this.role = role;
    this.archived = archived;
    this.form.hidden = archived;
    this.approvalForm.hidden = archived || !(role === "owner" || role === "reviewer");
  }

  async load() {
    try {
      const [comments, approvals] = await Promise.all([projectsApi.comments(this.projectId), projectsApi.approvals(this.projectId)]);
      this.comments = new Map((comments.items || []).map((c) => [c.id, c]));
      this.render();
      this.approvals.replaceChildren(...(approvals.items || []).map((a) => this.approvalItem(a)));
      this.element.hidden = false;
    } catch (error) {
      // No such route yet (or the project is gone: the room says so).
      this.element.hidden = error.status === 404 || error.status === 405;
      if (!this.element.hidden) this.error.textContent = error.message;
    }
  }

  /** A comment or approval event from the room. */
  heard(type, data) {
    if (this.element.hidden) return;
    if (type === "project.approval.recorded") {
      this.approvals.prepend(this.approvalItem(data));
      return;
    }
    const id = data.comment_id || data.id;
    const known = this.comments.get(id);
    if (type === "project.comment.added" && !known) {
      this.comments.set(id, { id, ...data });
    } else if (known && type === "project.comment.resolved") {
      known.resolved = true;
    } else if (known && type === "project.comment.reopened") {
      known.resolved = false;
    }
    this.render();
  }

  commentForm(parent) {
    const key = parent ? `reply-${parent.id}` : "comment";
    const body = h("textarea", { id: `${key}-body`, name: "body", maxLength: BODY_MAX, rows: 2, required: true });
    const fields = [h("div", { className: "field" }, h("label", { htmlFor: body.id }, parent ? "Reply" : "Comment"), body)];
    let track; let start; let end;
    if (!parent) {
      track = h("input", { id: "comment-track", name: "track", type: "text", maxLength: 128, autocomplete: "off" });
      start = h("input", { id: "comment-start", name: "start_s", type: "number", min: "0", max: "86400", step: "any", inputMode: "decimal" });
      end = h("input", { id: "comment-end", name: "end_s", type: "number", min: "0", max: "86400", step: "any", inputMode: "decimal" });
      fields.push(h("div", { className: "grid-3" },
        h("div", { className: "field" }, h("label", { htmlFor: track.id }, "On track (optional)"), track),
        h("div", { className: "field" }, h("label", { htmlFor: start.id }, "From second"), start),
        h("div", { className: "field" }, h("label", { htmlFor: end.id }, "To second"), end)));
    }
    const form = h("form", { className: parent ? "reply-form" : "comment-form", id: `${key}-form` }, ...fields,
      h("button", { type: "submit" }, parent ? "Reply" : "Add comment"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      this.error.textContent = "";
      if (!form.reportValidity()) return;
      const comment = { body: body.value };
      if (parent) {
        comment.parent_id = parent.id;
      } else {
        const anchor = {};
        if (track.value.trim()) anchor.track = track.value.trim();
        if (start.value !== "") anchor.start_s = Number(start.value);
        if (end.value !== "") anchor.end_s = Number(end.value);
        comment.anchor = anchor;
      }
      try {
        const made = await projectsApi.comment(this.projectId, comment);
        if (made && made.id) this.comments.set(made.id, made);
        form.reset();
        this.render();
        announce(parent ? "Reply added" : "Comment added");
      } catch (e) {
        this.error.textContent = e.message;
      }
    });
    return form;
  }

  render() {
    const all = [...this.comments.values()].slice(-SHOWN);
    const roots = all.filter((c) => !c.parent_id);
    this.list.replaceChildren(...roots.map((root) => {
      const replies = all.filter((c) => c.parent_id === root.id);
      const resolved = Boolean(root.resolved || root.resolved_at);
      const toggle = h("button", { type: "button", onclick: () => this.resolve(root, !resolved) }, resolved ? "Reopen" : "Resolve");
      return h("li", { dataset: { comment: root.id, resolved: String(resolved) } },
        this.line(root),
        replies.length ? h("ol", { className: "comment-replies" }, ...replies.map((r) => h("li", { dataset: { comment: r.id } }, this.line(r)))) : null,
        this.archived ? null : h("div", { className: "actions" }, toggle),
        this.archived || resolved ? null : this.commentForm(root));
    }));
  }

  line(comment) {
    const where = range(comment.anchor);
    return h("p", {},
      h("strong", {}, this.nameOf(comment.author || comment.actor || comment.author_id)),
      where ? h("span", { className: "muted" }, ` on ${where}`) : null,
      comment.created_at ? h("span", { className: "muted" }, ` · ${formatTime(comment.created_at)}`) : null,
      h("br"), comment.body || "");
  }

  async resolve(comment, resolved) {
    try {
      const changed = await projectsApi.resolveComment(this.projectId, comment.id, resolved);
      this.comments.set(comment.id, changed && changed.id ? changed : { ...comment, resolved });
      this.render();
    } catch (e) {
      this.error.textContent = e.message;
    }
  }

  makeApprovalForm() {
    const job = h("input", { id: "approval-job", type: "text", required: true, maxLength: 36, autocomplete: "off" });
    const artifact = h("input", { id: "approval-artifact", type: "text", required: true, maxLength: 128, autocomplete: "off" });
    const note = h("input", { id: "approval-note", type: "text", maxLength: BODY_MAX, autocomplete: "off" });
    const error = h("p", { className: "error", role: "alert" });
    const decide = async (decision) => {
      error.textContent = "";
      if (!form.reportValidity()) return;
      const approval = { job_id: job.value.trim(), artifact: artifact.value.trim(), decision };
      if (note.value.trim()) approval.note = note.value.trim();
      try {
        const recorded = await projectsApi.approve(this.projectId, approval);
        this.approvals.prepend(this.approvalItem(recorded || approval));
        announce(decision === "approved" ? "Approved" : "Changes requested");
      } catch (e) {
        error.textContent = e.message;
      }
    };
    const form = h("form", { id: "approval-form", className: "grid-3" },
      h("div", { className: "field" }, h("label", { htmlFor: job.id }, "Job id"), job),
      h("div", { className: "field" }, h("label", { htmlFor: artifact.id }, "Artifact"), artifact),
      h("div", { className: "field" }, h("label", { htmlFor: note.id }, "Note (optional)"), note),
      h("div", { className: "actions" },
        h("button", { type: "button", className: "primary", onclick: () => decide("approved") }, "Approve"),
        h("button", { type: "button", onclick: () => decide("changes_requested") }, "Request changes")),
      error);
    form.addEventListener("submit", (event) => event.preventDefault());
    return form;
  }

  approvalItem(a) {
    const what = a.decision === "approved" ? "approved" : "asked for changes to";
    return h("li", { dataset: { decision: a.decision } },
      h("strong", {}, this.nameOf(a.reviewer || a.actor || a.author)), ` ${what} ${a.artifact || "an artifact"}`,
      a.job_id ? h("span", { className: "muted" }, ` (job ${String(a.job_id).slice(0, 8)})`) : null,
      a.note ? ` — ${a.note}` : null);
  }
}
