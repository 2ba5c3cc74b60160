// A project's comments (anchored to a track and a time range; threads one level deep;
// resolved or open), listed per track, and approvals (owners' and reviewers' decisions on a
// version of a job's artifact). Kept live by the room's project.comment.* and
// project.approval.recorded events. Hidden if the gateway has no comments API (404).

import { announce, formatTime, h } from "./dom.js";
import { projectsApi } from "./projects-api.js";

const BODY_MAX = 2000;
const SHOWN = 200;
const GENERAL = "";

/** 95.5 → "1:35.5", 4 → "0:04": a time in a song, to the tenth of a second. */
export function songTime(seconds) {
  const tenths = Math.round(seconds * 10);
  const minutes = Math.floor(tenths / 600);
  const rest = (tenths % 600) / 10;
  const whole = String(Math.floor(rest)).padStart(2, "0");
  return `${minutes}:${whole}${tenths % 10 ? `.${tenths % 10}` : ""}`;
}

function range(anchor) {
  if (!anchor) return "";
  const parts = [];
  if (anchor.track) parts.push(anchor.track);
  if (anchor.artifact) parts.push(anchor.artifact);
  if (anchor.start_s !== undefined && anchor.start_s !== null) {
    const end = anchor.end_s !== undefined && anchor.end_s !== null ? `–${songTime(anchor.end_s)}` : "";
    parts.push(`${songTime(anchor.start_s)}${end}`);
  }
  return parts.join(", ");
}

export class ProjectComments {
  constructor(projectId, { nameOf, tracks, me, onChange }) {
    this.onChange = onChange || (() => {});
    this.projectId = projectId;
    this.nameOf = nameOf;
    this.tracks = tracks;
    this.me = me;
    this.role = "reviewer";
    this.archived = false;
    this.comments = new Map();
    this.decisions = new Map();
    this.jobs = [];
    this.trackChoices = h("datalist", { id: "comment-tracks" });
    this.list = h("div", { id: "project-comments", className: "project-comments" });
    this.error = h("p", { id: "comments-error", className: "error", role: "alert" });
    this.form = this.commentForm(null);
    this.approvals = h("ul", { id: "project-approvals", className: "project-approvals", aria: { labelledby: "approvals-title" } });
    this.approvalForm = this.makeApprovalForm();
    this.element = h("section", { id: "project-comments-part", className: "project-part", hidden: true, aria: { labelledby: "comments-title" } },
      h("h4", { id: "comments-title" }, "Comments"), this.form, this.trackChoices, this.error, this.list,
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
      this.decisions = new Map((approvals.items || []).map((a) => [a.id, a]));
      this.render();
      this.renderApprovals();
      this.element.hidden = false;
    } catch (error) {
      // No such route yet (or the project is gone: the room says so).
      this.element.hidden = error.status === 404 || error.status === 405;
      if (!this.element.hidden) this.error.textContent = error.message;
    }
  }

  /** A comment or approval event from the room ({type, user_id, timestamp, data}). */
  heard({ type, user_id: actor, timestamp, data = {} }) {
    if (this.element.hidden) return;
    if (type === "project.approval.recorded") {
      const id = data.approval_id;
      if (!this.decisions.has(id)) this.decisions.set(id, { ...data, id, reviewer: actor, created_at: timestamp });
      this.renderApprovals();
      return;
    }
    const id = data.comment_id;
    const known = this.comments.get(id);
    if (type === "project.comment.added" && !known) {
      this.comments.set(id, {
        id, author: actor, body: data.body, anchor: data.anchor || null,
        parent_id: data.parent_id || null, resolved: false, created_at: timestamp,
      });
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
      track = h("input", { id: "comment-track", name: "track", type: "text", maxLength: 128, autocomplete: "off", list: "comment-tracks" });
      track.addEventListener("focus", () => {
        const tracks = this.tracks();
        this.trackChoices.replaceChildren(...(tracks ? [...tracks.keys()].sort() : []).map((t) => h("option", { value: t })));
      });
      start = h("input", { id: "comment-start", name: "start_s", type: "number", min: "0", max: "86400", step: "any", inputMode: "decimal" });
      end = h("input", { id: "comment-end", name: "end_s", type: "number", min: "0", max: "86400", step: "any", inputMode: "decimal" });
      this.fields = { body, track, start, end };
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
        if (anchor.end_s !== undefined && (anchor.start_s === undefined || anchor.end_s < anchor.start_s)) {
          this.error.textContent = "A time range ends no earlier than it starts: give both, the start first.";
          end.focus();
          return;
        }
        if (Object.keys(anchor).length) comment.anchor = anchor;
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

  /** The threads, a list per track (comments on no track first, as "General"). */
  render() {
    const all = [...this.comments.values()].slice(-SHOWN);
    const roots = all.filter((c) => !c.parent_id);
    const groups = new Map();
    for (const root of roots) {
      const track = (root.anchor && root.anchor.track) || GENERAL;
      if (!groups.has(track)) groups.set(track, []);
      groups.get(track).push(root);
    }
    const keys = [...groups.keys()].sort();
    const manager = this.role === "owner" || this.role === "admin";
    this.list.replaceChildren(...keys.map((track, index) => {
      const title = h("h5", { id: `comments-group-${index}` }, track === GENERAL ? "General" : `On ${track}`);
      return h("div", { className: "comment-group", dataset: { track } }, title,
        h("ol", { className: "comment-threads", aria: { labelledby: title.id } }, ...groups.get(track).map((root) => {
          const replies = all.filter((c) => c.parent_id === root.id);
          const resolved = Boolean(root.resolved);
          const mayResolve = !this.archived && (manager || (this.me && root.author === this.me.id));
          const toggle = h("button", { type: "button", className: "comment-resolve", onclick: () => this.resolve(root, !resolved) },
            resolved ? "Reopen" : "Resolve");
          return h("li", { dataset: { comment: root.id, resolved: String(resolved) } },
            this.line(root),
            resolved ? h("p", { className: "muted" }, "Resolved.") : null,
            replies.length ? h("ol", { className: "comment-replies", aria: { label: "Replies" } },
              ...replies.map((r) => h("li", { dataset: { comment: r.id } }, this.line(r)))) : null,
            mayResolve ? h("div", { className: "actions" }, toggle) : null,
            this.archived || resolved ? null : this.commentForm(root));
        })));
    }));
    if (!roots.length) this.list.replaceChildren(h("p", { className: "muted" }, "No comments yet."));
    this.onChange();
  }

  /** The time ranges comments on `track` point at: [{start_s, end_s, resolved}]. */
  rangesFor(track) {
    return [...this.comments.values()]
      .filter((c) => !c.parent_id && c.anchor && c.anchor.track === track && c.anchor.start_s !== null && c.anchor.start_s !== undefined)
      .map((c) => ({ start_s: c.anchor.start_s, end_s: c.anchor.end_s, resolved: Boolean(c.resolved) }));
  }

  /** A range picked on a track's waveform: the new comment's anchor, ready to write. */
  prefill(track, start, end) {
    if (this.element.hidden || this.archived) return;
    this.fields.track.value = track;
    this.fields.start.value = String(start);
    this.fields.end.value = end > start ? String(end) : "";
    this.fields.body.focus();
    announce(`Commenting on ${track} from ${songTime(start)}${end > start ? ` to ${songTime(end)}` : ""}`);
  }

  renderApprovals() {
    const newest = [...this.decisions.values()].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    this.approvals.replaceChildren(...newest.slice(0, SHOWN).map((a) => this.approvalItem(a)));
  }

  line(comment) {
    const where = range(comment.anchor);
    return h("p", {},
      h("strong", {}, this.nameOf(comment.author)),
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

  /** The project's jobs (newest first): the finished ones' artifacts can be reviewed. */
  setJobs(jobs) {
    this.jobs = jobs.filter((j) => j.status === "completed" && (j.artifacts || []).length);
    const chosen = this.jobSelect.value;
    this.jobSelect.replaceChildren(...this.jobs.map((j) =>
      h("option", { value: j.id }, `${j.kind} of ${formatTime(j.created_at)} (by ${this.nameOf(j.owner)})`)));
    if (this.jobs.some((j) => j.id === chosen)) this.jobSelect.value = chosen;
    this.showArtifacts();
    this.approvalEmpty.hidden = this.jobs.length > 0;
    this.approvalFields.hidden = this.jobs.length === 0;
  }

  showArtifacts() {
    const job = this.jobs.find((j) => j.id === this.jobSelect.value);
    const chosen = this.artifactSelect.value;
    this.artifactSelect.replaceChildren(...(job ? job.artifacts : []).map((a) => h("option", { value: a.name }, a.name)));
    if (job && job.artifacts.some((a) => a.name === chosen)) this.artifactSelect.value = chosen;
  }

  makeApprovalForm() {
    const job = h("select", { id: "approval-job", required: true, onchange: () => this.showArtifacts() });
    const artifact = h("select", { id: "approval-artifact", required: true });
    this.jobSelect = job;
    this.artifactSelect = artifact;
    const note = h("input", { id: "approval-note", type: "text", maxLength: BODY_MAX, autocomplete: "off" });
    const error = h("p", { className: "error", role: "alert" });
    const decide = async (decision) => {
      error.textContent = "";
      if (!form.reportValidity()) return;
      const approval = { job_id: job.value, artifact: artifact.value, decision };
      if (note.value.trim()) approval.note = note.value.trim();
      try {
        const recorded = await projectsApi.approve(this.projectId, approval);
        this.decisions.set(recorded.id, recorded);
        this.renderApprovals();
        announce(decision === "approved" ? "Approved" : "Changes requested");
      } catch (e) {
        error.textContent = e.message;
      }
    };
    this.approvalEmpty = h("p", { className: "muted" }, "No finished jobs in the project to review yet.");
    this.approvalFields = h("div", { className: "grid-3", hidden: true },
      h("div", { className: "field" }, h("label", { htmlFor: job.id }, "Job"), job),
      h("div", { className: "field" }, h("label", { htmlFor: artifact.id }, "Artifact"), artifact),
      h("div", { className: "field" }, h("label", { htmlFor: note.id }, "Note (optional)"), note),
      h("div", { className: "actions" },
        h("button", { type: "button", className: "primary", onclick: () => decide("approved") }, "Approve"),
        h("button", { type: "button", onclick: () => decide("changes_requested") }, "Request changes")));
    const form = h("form", { id: "approval-form" }, this.approvalEmpty, this.approvalFields, error);
    form.addEventListener("submit", (event) => event.preventDefault());
    return form;
  }

  approvalItem(a) {
    const what = a.decision === "approved" ? "approved" : "asked for changes to";
    return h("li", { dataset: { decision: a.decision, approval: a.id } },
      h("strong", {}, this.nameOf(a.reviewer)), ` ${what} ${a.artifact}`,
      a.job_id ? h("span", { className: "muted" }, ` (job ${String(a.job_id).slice(0, 8)})`) : null,
      a.note ? ` — ${a.note}` : null);
  }
}
