// The studio's Projects section: your projects and invitations, a form for a new one, and
// a project's page — its settings, members with presence dots, invitations, the shared
// mixer, comments and approvals, and an activity feed, kept live by the project's room.

import { getJson } from "./api.js";
import { announce, byId, formatPercent, formatTime, h } from "./dom.js";
import { ProjectRoom } from "./project-room.js";
import { GRANTABLE, MAKERS, MANAGERS, mayManage, projectsApi } from "./projects-api.js";
import { ProjectComments } from "./project-comments.js";
import { SharedMixer } from "./shared-mixer.js";

const IDLE_AFTER_MS = 60_000;
const ACTIVITY_SHOWN = 100;
const PRESENCE_WORDS = { here: "here", active: "active", idle: "idle", away: "away" };
const JOBS_SHOWN = 20;

/** The settings form's values as the API takes them (key: null clears it). */
function settingsFrom(form) {
  const data = new FormData(form);
  const key = String(data.get("key") || "").trim();
  return {
    name: String(data.get("name") || "").trim(),
    description: String(data.get("description") || ""),
    tempo_bpm: Number(data.get("tempo_bpm")),
    key: key || null,
    time_signature: String(data.get("time_signature") || "").trim(),
  };
}

/** The five settings fields, with the API's bounds; `prefix` keeps their ids apart. */
function settingsFields(prefix, project = {}) {
  const field = (name, label, input, hint) =>
    h("div", { className: "field" }, h("label", { htmlFor: input.id }, label), input, hint || null);
  return [
    field("name", "Name", h("input", { id: `${prefix}-name`, name: "name", type: "text", required: true, maxLength: 120, value: project.name || "" })),
    field("description", "Description", h("textarea", { id: `${prefix}-description`, name: "description", maxLength: 2000, rows: 2, value: project.description || "" })),
    h("div", { className: "grid-3" },
      field("tempo", "Tempo in BPM (20 to 400)", h("input", { id: `${prefix}-tempo`, name: "tempo_bpm", type: "number", min: "20", max: "400", step: "any", required: true, inputMode: "decimal", value: String(project.tempo_bpm ?? 120) })),
      field("key", "Key (e.g. F# minor)", h("input", { id: `${prefix}-key`, name: "key", type: "text", maxLength: 9, pattern: "[A-G][#b]? (major|minor)", autocomplete: "off", value: project.key || "" })),
      field("time", "Time signature (e.g. 6/8)", h("input", { id: `${prefix}-time`, name: "time_signature", type: "text", maxLength: 5, required: true, pattern: "([1-9]|[12][0-9]|3[0-2])/(1|2|4|8|16|32)", autocomplete: "off", value: project.time_signature || "4/4" }))),
  ];
}

function describeEvent(type, data, nameOf) {
  const who = (id) => (id ? nameOf(id) : "someone");
  switch (type) {
    case "project.created": return "created the project";
    case "project.updated": return "changed the project's settings";
    case "project.archived": return "archived the project";
    case "project.restored": return "restored the project";
    case "project.invitation.sent": return `invited ${data.email || who(data.account_id)} as ${data.role || "a member"}`;
    case "project.invitation.accepted": return `joined as ${data.role || "a member"}`;
    case "project.invitation.declined": return "declined an invitation";
    case "project.invitation.revoked": return "revoked an invitation";
    case "project.member.role_changed": return `made ${who(data.account_id)} ${data.role || "something else"}`;
    case "project.member.removed": return data.reason === "left" ? "left the project" : `removed ${who(data.account_id)}`;
    case "project.ownership.transferred": return `made ${who(data.new_owner || data.account_id)} the owner`;
    case "project.comment.added": return `commented${data.anchor && data.anchor.track ? ` on ${data.anchor.track}` : ""}`;
    case "project.comment.resolved": return "resolved a comment";
    case "project.comment.reopened": return "reopened a comment";
    case "job.started": return `started ${data.kind ? `a ${data.kind}` : "a"} job`;
    case "job.completed": return "finished a job";
    case "job.failed": return `had a job fail${data.reason ? `: ${data.reason}` : ""}`;
    case "job.cancelled": return "cancelled a job";
    case "project.approval.recorded":
      return `${data.decision === "approved" ? "approved" : "asked for changes to"} ${data.artifact || "an artifact"}`;
    default: return type.replace(/^project\./, "").replaceAll(/[._]/g, " ");
  }
}

export class ProjectsView {
  /** @param {{onOpenJob: (id: string) => void}} options */
  constructor({ onOpenJob } = {}) {
    this.onOpenJob = onOpenJob || (() => {});
    this.me = null;
    this.list = byId("project-list");
    this.status = byId("projects-status");
    this.view = byId("project-view");
    this.index = byId("project-index");
    this.archived = byId("projects-archived");
    this.current = null;
    byId("refresh-projects").addEventListener("click", () => this.refresh());
    this.archived.addEventListener("change", () => this.refresh());
    const form = byId("project-create-form");
    form.append(...settingsFields("project-new"),
      h("div", { className: "actions" }, h("button", { type: "submit", className: "primary", id: "project-create" }, "Create project")),
      h("p", { id: "project-create-error", className: "error", role: "alert" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create(form);
    });
  }

  async start(me) {
    this.me = me;
    await this.refresh();
  }

  stop() {
    this.closeProject();
    this.list.replaceChildren();
  }

  async refresh() {
    this.refreshInvitations();
    try {
      const page = await projectsApi.list(this.archived.checked);
      this.list.replaceChildren(...page.items.map((project) =>
        h("li", { dataset: { project: project.id } },
          h("button", { type: "button", className: "link-button", onclick: () => this.open(project.id) }, project.name),
          h("span", { className: "muted" }, ` ${project.your_role} · ${project.members} ${project.members === 1 ? "member" : "members"}`))));
      if (!this.archived.checked) this.offerForJobs(page.items);
      this.status.textContent = page.items.length
        ? ""
        : this.archived.checked ? "No archived projects." : "No projects yet: create one below, or accept an invitation.";
    } catch (error) {
      this.status.textContent = `The projects could not be loaded: ${error.message}`;
    }
  }

  /** The job form's Project choice: the projects you may start jobs in (the server decides). */
  offerForJobs(projects) {
    const select = byId("job-project");
    const chosen = select.value;
    select.replaceChildren(h("option", { value: "" }, "None: only you see it"),
      ...projects.filter((p) => MAKERS.has(p.your_role) || p.your_role === "reviewer")
        .map((p) => h("option", { value: p.id }, `${p.name} (you: ${p.your_role})`)));
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
  }

  /** Preselect a project in the job form and go there. */
  startJobIn(project) {
    const select = byId("job-project");
    if (![...select.options].some((o) => o.value === project.id)) {
      select.append(h("option", { value: project.id }, `${project.name} (you: ${project.your_role})`));
    }
    select.value = project.id;
    byId("new-job-title").scrollIntoView({ block: "start" });
    select.focus();
  }

  async refreshInvitations() {
    const box = byId("my-invitations");
    const list = byId("my-invitations-list");
    try {
      const { items } = await projectsApi.myInvitations();
      list.replaceChildren(...items.map((invitation) => {
        const name = invitation.project_name || "a project";
        const error = h("span", { className: "error", role: "alert" });
        const answer = async (accept) => {
          try {
            await projectsApi.answer(invitation.id, accept);
            announce(accept ? `You joined ${name}` : `Invitation to ${name} declined`);
            await this.refresh();
            if (accept) await this.open(invitation.project_id);
          } catch (e) {
            error.textContent = e.message;
          }
        };
        return h("li", { dataset: { invitation: invitation.id } },
          h("span", {}, `${name}: as ${invitation.role} `),
          h("button", { type: "button", className: "primary", onclick: () => answer(true) }, `Accept ${name}`),
          " ",
          h("button", { type: "button", onclick: () => answer(false) }, `Decline ${name}`),
          " ", error);
      }));
      box.hidden = items.length === 0;
    } catch (error) {
      box.hidden = false;
      list.replaceChildren(h("li", { className: "error" }, `Your invitations could not be loaded: ${error.message}`));
    }
  }

  async create(form) {
    const error = byId("project-create-error");
    error.textContent = "";
    if (!form.reportValidity()) return;
    try {
      const project = await projectsApi.create(settingsFrom(form));
      form.reset();
      byId("project-create-box").open = false;
      announce(`Project ${project.name} created`);
      await this.refresh();
      await this.open(project.id);
    } catch (e) {
      error.textContent = e.message;
    }
  }

  async open(projectId) {
    this.closeProject();
    let project;
    try {
      project = await projectsApi.read(projectId);
    } catch (error) {
      this.status.textContent = `The project could not be opened: ${error.message}`;
      return;
    }
    this.current = new ProjectPage(project, this.me, {
      onBack: () => this.closeProject({ focusList: true }),
      onGone: () => this.refresh(),
      onOpenJob: (id) => this.onOpenJob(id),
      onStartJob: (p) => this.startJobIn(p),
    });
    this.view.replaceChildren(this.current.element);
    this.view.hidden = false;
    this.index.hidden = true;
    this.current.start();
    const title = byId("project-view-title");
    title.tabIndex = -1;
    title.focus();
  }

  closeProject({ focusList = false } = {}) {
    if (this.current) this.current.stop();
    this.current = null;
    this.view.replaceChildren();
    this.view.hidden = true;
    this.index.hidden = false;
    if (focusList) {
      this.refresh();
      byId("project-list-title").scrollIntoView({ block: "start" });
      const first = this.list.querySelector("button");
      if (first) first.focus();
    }
  }
}

/** One open project. */
class ProjectPage {
  constructor(project, me, { onBack, onGone, onOpenJob, onStartJob }) {
    this.project = project;
    this.me = me;
    this.onGone = onGone;
    this.onOpenJob = onOpenJob;
    this.jobsTimer = 0;
    this.members = [];
    this.presence = new Map(); // account id → {state, looking_at}
    this.myState = "active";
    this.lookingAt = null;
    this.idleTimer = 0;
    this.reloadTimer = 0;
    this.gone = false;

    this.title = h("h3", { id: "project-view-title" });
    this.summary = h("p", { id: "project-summary", className: "muted" });
    this.roomStatus = h("p", { id: "project-room-status", className: "muted", role: "status" });
    this.closed = h("p", { id: "project-closed", className: "error", role: "alert" });
    this.memberList = h("ul", { id: "project-members", className: "project-members", aria: { labelledby: "project-members-title" } });
    this.memberError = h("p", { id: "project-members-error", className: "error", role: "alert" });
    this.activity = h("ol", { id: "project-activity", className: "project-activity", aria: { labelledby: "project-activity-title" } });
    this.settingsForm = h("form", { id: "project-settings-form", className: "stack" });
    this.inviteBox = h("div", { id: "project-invite" });
    this.leaveButton = h("button", { type: "button", id: "project-leave", onclick: () => this.leave() }, "Leave the project");
    this.archiveButton = h("button", { type: "button", id: "project-archive", onclick: () => this.toggleArchive() });

    this.room = new ProjectRoom(project.id, {
      onSnapshot: (data, me) => this.snapshot(data, me),
      onMessage: (message) => this.message(message),
      onStatus: (text) => { this.roomStatus.textContent = text; },
      onClosed: (code, text) => this.roomClosed(code, text),
    });
    this.mixer = new SharedMixer({
      send: (bytes) => this.room.sendBinary(bytes),
      onLooking: (track) => this.look(track ? { track } : null),
      rangesFor: (track) => this.comments.rangesFor(track),
      onRange: (track, start, end) => this.comments.prefill(track, start, end),
    });
    this.comments = new ProjectComments(project.id, { nameOf: (id) => this.nameOf(id), tracks: () => this.mixer.tracks(), me, onChange: () => this.mixer.drawWaves() });
    this.jobList = h("ul", { id: "project-jobs", className: "project-jobs", aria: { labelledby: "project-jobs-title" } });
    this.jobsNote = h("p", { id: "project-jobs-note", className: "muted", aria: { live: "polite" } });
    this.startJobButton = h("button", { type: "button", id: "project-start-job", onclick: () => onStartJob(this.project) }, "Start a job in this project");

    this.body = h("div", { className: "project-body" },
      h("section", { className: "project-part", aria: { labelledby: "project-members-title" } },
        h("h4", { id: "project-members-title" }, "Members"), this.memberList, this.memberError, this.inviteBox,
        h("div", { className: "actions" }, this.leaveButton)),
      this.mixer.element,
      h("section", { id: "project-jobs-part", className: "project-part", aria: { labelledby: "project-jobs-title" } },
        h("h4", { id: "project-jobs-title" }, "Jobs"), this.jobList, this.jobsNote,
        h("div", { className: "actions" }, this.startJobButton)),
      this.comments.element,
      h("section", { className: "project-part", aria: { labelledby: "project-settings-title" } },
        h("h4", { id: "project-settings-title" }, "Settings"), this.settingsForm,
        h("div", { className: "actions" }, this.archiveButton)),
      h("section", { className: "project-part", aria: { labelledby: "project-activity-title" } },
        h("h4", { id: "project-activity-title" }, "Activity"), this.activity));
    this.element = h("div", { className: "project-page", dataset: { projectId: project.id } },
      h("div", { className: "project-heading" }, this.title,
        h("button", { type: "button", id: "project-back", onclick: onBack }, "Back to projects")),
      this.summary, this.roomStatus, this.closed, this.body);

    this.settingsForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveSettings();
    });
    this.activityHandler = () => this.active();
    for (const kind of ["pointerdown", "keydown", "focusin"]) this.element.addEventListener(kind, this.activityHandler);
    this.showProject();
  }

  get role() {
    return this.project.your_role;
  }

  async start() {
    this.room.open();
    this.armIdle();
    await Promise.all([this.loadMembers(), this.loadActivity(), this.loadInvitations(), this.comments.load(), this.loadJobs()]);
  }

  stop() {
    window.clearTimeout(this.idleTimer);
    window.clearTimeout(this.reloadTimer);
    window.clearTimeout(this.jobsTimer);
    this.mixer.destroy();
    this.room.close();
  }

  nameOf(accountId) {
    if (this.me && accountId === this.me.id) return "you";
    const member = this.members.find((m) => m.account_id === accountId);
    return member && member.email ? member.email : accountId;
  }

  showProject() {
    const p = this.project;
    this.title.textContent = p.name;
    this.summary.textContent = [
      `Your role: ${p.your_role}`, `${p.tempo_bpm} BPM`, p.key, p.time_signature,
      p.archived ? "archived (read-only)" : null,
    ].filter(Boolean).join(" · ");
    const manager = MANAGERS.has(this.role);
    this.settingsForm.replaceChildren(...settingsFields("project-edit", p),
      h("div", { className: "actions" }, h("button", { type: "submit", id: "project-save", className: "primary", hidden: !manager }, "Save settings")),
      h("p", { id: "project-settings-error", className: "error", role: "alert" }));
    for (const input of this.settingsForm.querySelectorAll("input, textarea")) {
      input.readOnly = !manager || p.archived;
    }
    if (p.archived) this.settingsForm.querySelector("#project-save").hidden = true;
    this.archiveButton.hidden = !manager;
    this.archiveButton.textContent = p.archived ? "Restore the project" : "Archive the project";
    this.leaveButton.hidden = this.role === "owner";
    this.startJobButton.hidden = !MAKERS.has(this.role) || p.archived;
    this.mixer.setReadOnly(!MAKERS.has(this.role) || p.archived, p.archived ? "archived project's member" : this.role);
    this.comments.setRole(this.role, p.archived);
  }

  // ---- the room ------------------------------------------------------------------------

  snapshot(data, me) {
    if (data.project) {
      this.project = data.project;
      this.showProject();
    }
    if (data.members) this.showMembers(data.members);
    this.presence.clear();
    for (const entry of data.here || []) this.presence.set(entry.user_id, entry);
    this.presence.set(me, { state: this.myState, looking_at: this.lookingAt });
    this.showPresence();
    if (data.mix) this.mixer.load(data.mix.state);
  }

  message(message) {
    const { type, data = {} } = message;
    if (type === "presence") {
      if (data.state === "left") this.presence.delete(message.user_id);
      else this.presence.set(message.user_id, data);
      this.showPresence();
    } else if (type === "mix.update") {
      this.mixer.applyRemote(data.update);
    } else if (type === "mix.reset") {
      this.mixer.reset(data.state, data.reason);
    } else if (type === "error") {
      this.roomStatus.textContent = `The project's connection said: ${data.message}`;
    } else if (type.startsWith("job.")) {
      this.addActivity({ type, actor: message.user_id, at: message.timestamp, data });
      window.clearTimeout(this.jobsTimer);
      this.jobsTimer = window.setTimeout(() => this.loadJobs(), 100);
    } else if (type.startsWith("project.")) {
      this.addActivity({ type, actor: message.user_id, at: message.timestamp, data });
      if (type.startsWith("project.comment.") || type === "project.approval.recorded") {
        this.comments.heard(message);
      } else {
        this.scheduleReload();
      }
    }
  }

  roomClosed(code, text) {
    this.closed.textContent = text;
    this.roomStatus.textContent = "Not connected.";
    if (code === 4403 || code === 4404) {
      this.gone = true;
      this.body.hidden = true;
      this.mixer.destroy();
      announce(text);
      this.onGone();
    }
  }

  /** After a membership or settings event: read the project and its members again. */
  scheduleReload() {
    window.clearTimeout(this.reloadTimer);
    this.reloadTimer = window.setTimeout(async () => {
      if (this.gone) return;
      try {
        this.project = await projectsApi.read(this.project.id);
        this.showProject();
        await Promise.all([this.loadMembers(), this.loadInvitations()]);
      } catch (error) {
        if (error.status === 404) this.roomClosed(4404, "This project does not exist, or you are not a member of it any more.");
      }
    }, 100);
  }

  // ---- presence --------------------------------------------------------------------------

  look(lookingAt) {
    this.lookingAt = lookingAt;
    this.myState = "active";
    this.room.setPresence("active", lookingAt);
  }

  active() {
    this.armIdle();
    if (this.myState !== "idle") return;
    this.myState = "active";
    this.room.setPresence("active", this.lookingAt);
  }

  armIdle() {
    window.clearTimeout(this.idleTimer);
    this.idleTimer = window.setTimeout(() => {
      this.myState = "idle";
      this.room.setPresence("idle", this.lookingAt);
    }, IDLE_AFTER_MS);
  }

  presenceOf(accountId) {
    const entry = this.presence.get(accountId);
    if (!entry) return "away";
    if (entry.state === "joined") return "here";
    return entry.state === "idle" ? "idle" : "active";
  }

  showPresence() {
    for (const item of this.memberList.children) {
      const id = item.dataset.account;
      const state = this.presenceOf(id);
      const dot = item.querySelector(".presence-dot");
      dot.dataset.presence = state;
      dot.title = PRESENCE_WORDS[state];
      item.querySelector(".presence-text").textContent = `(${PRESENCE_WORDS[state]})`;
      const entry = this.presence.get(id);
      const looking = entry && entry.looking_at && entry.looking_at.track;
      item.querySelector(".presence-looking").textContent = looking ? ` looking at ${looking}` : "";
    }
  }

  // ---- members and invitations -----------------------------------------------------------

  async loadMembers() {
    try {
      this.showMembers((await projectsApi.members(this.project.id)).items);
    } catch (error) {
      this.memberError.textContent = error.message;
    }
  }

  showMembers(members) {
    this.members = members;
    this.memberList.replaceChildren(...members.map((member) => {
      const name = this.nameOf(member.account_id);
      const label = name === "you" ? `you (${member.email || member.account_id})` : name;
      const item = h("li", { dataset: { account: member.account_id } },
        h("span", { className: "presence-dot", aria: { hidden: "true" } }),
        h("span", { className: "member-name" }, label),
        h("span", { className: "visually-hidden presence-text" }),
        h("span", { className: "muted member-role" }, ` ${member.role}`),
        h("span", { className: "muted presence-looking" }));
      if (mayManage(this.role, member.role) && !this.project.archived) {
        const select = h("select", { aria: { label: `Role of ${name}` } },
          ...GRANTABLE.map((role) => h("option", { value: role, selected: role === member.role }, role)));
        select.addEventListener("change", () => this.act(() => projectsApi.changeRole(this.project.id, member.account_id, select.value), `${name} is now ${select.value}`));
        item.append(" ", select, " ",
          h("button", { type: "button", className: "member-remove", onclick: () => this.act(() => projectsApi.removeMember(this.project.id, member.account_id), `${name} removed`) }, `Remove ${name}`));
      }
      return item;
    }));
    this.showPresence();
  }

  async act(call, done) {
    this.memberError.textContent = "";
    try {
      await call();
      announce(done);
      this.scheduleReload();
    } catch (error) {
      this.memberError.textContent = error.message;
    }
  }

  async loadInvitations() {
    if (!MANAGERS.has(this.role) || this.project.archived) {
      this.inviteBox.replaceChildren();
      return;
    }
    const who = h("input", { id: "invite-who", type: "text", required: true, maxLength: 254, autocomplete: "off", aria: { describedby: "invite-hint" } });
    const role = h("select", { id: "invite-role" }, ...GRANTABLE.map((r) => h("option", { value: r, selected: r === "producer" }, r)));
    const error = h("p", { id: "invite-error", className: "error", role: "alert" });
    const form = h("form", { id: "invite-form", className: "invite-form" },
      h("h5", { id: "invite-title" }, "Invite someone"),
      h("div", { className: "inline" },
        h("label", { htmlFor: "invite-who" }, "Email or account id"), who,
        h("label", { htmlFor: "invite-role" }, "Role"), role,
        h("button", { type: "submit", id: "invite-send" }, "Send invitation")),
      h("small", { id: "invite-hint", className: "muted" }, "Admins manage members, producers and artists make, reviewers comment and approve."),
      error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const value = who.value.trim();
      if (!value) return;
      const body = value.includes("@") ? { email: value, role: role.value } : { account_id: value, role: role.value };
      try {
        await projectsApi.invite(this.project.id, body);
        who.value = "";
        announce(`Invitation sent to ${value}`);
        this.loadInvitations();
      } catch (e) {
        error.textContent = e.message;
      }
    });
    const pending = h("ul", { id: "project-invitations", className: "project-invitations", aria: { label: "Pending invitations" } });
    try {
      const { items } = await projectsApi.invitations(this.project.id);
      pending.append(...items.filter((i) => i.status === "pending").map((i) => {
        const name = i.email || this.nameOf(i.account_id);
        return h("li", {}, `${name}, as ${i.role} (pending) `,
          h("button", { type: "button", onclick: () => this.act(() => projectsApi.revoke(this.project.id, i.id), `Invitation to ${name} revoked`).then(() => this.loadInvitations()) }, `Revoke ${name}'s invitation`));
      }));
    } catch (e) {
      error.textContent = e.message;
    }
    this.inviteBox.replaceChildren(form, pending);
  }

  async leave() {
    this.memberError.textContent = "";
    try {
      await projectsApi.leave(this.project.id);
      this.gone = true;
      this.room.close();
      this.closed.textContent = "You left this project.";
      this.body.hidden = true;
      announce("You left the project");
      this.onGone();
    } catch (error) {
      this.memberError.textContent = error.message;
    }
  }

  // ---- settings --------------------------------------------------------------------------

  async saveSettings() {
    const error = this.settingsForm.querySelector("#project-settings-error");
    error.textContent = "";
    if (!this.settingsForm.reportValidity()) return;
    try {
      this.project = await projectsApi.update(this.project.id, settingsFrom(this.settingsForm));
      this.showProject();
      announce("Settings saved");
    } catch (e) {
      this.settingsForm.querySelector("#project-settings-error").textContent = e.message;
    }
  }

  async toggleArchive() {
    try {
      const archive = !this.project.archived;
      this.project = await (archive ? projectsApi.archive(this.project.id) : projectsApi.restore(this.project.id));
      this.showProject();
      this.loadInvitations();
      announce(archive ? "Project archived" : "Project restored");
    } catch (e) {
      this.memberError.textContent = e.message;
    }
  }

  // ---- jobs -----------------------------------------------------------------------------

  async loadJobs() {
    if (this.gone) return;
    try {
      const page = await getJson(`/api/v1/jobs?project_id=${encodeURIComponent(this.project.id)}&limit=${JOBS_SHOWN}`);
      const jobs = page.items || [];
      this.jobList.replaceChildren(...jobs.map((job) => h("li", { dataset: { jobId: job.id, status: job.status } },
        h("span", {}, `${job.kind} · ${job.status}${job.status === "running" ? ` ${formatPercent(job.progress)}` : ""} · by ${this.nameOf(job.owner)} · ${formatTime(job.created_at)} `),
        h("button", { type: "button", className: "link-button", onclick: () => this.onOpenJob(job.id) },
          h("span", { className: "visually-hidden" }, `${job.kind} job of ${formatTime(job.created_at)}: `), "Open"),
        ...(this.mayMix(job) ? [" ", this.mixButton(job)] : []))));
      this.jobsNote.textContent = jobs.length ? "" : "No jobs in this project yet.";
      this.comments.setJobs(jobs);
      this.mixer.player.setJobs(jobs);
    } catch (error) {
      this.jobsNote.textContent = `The project's jobs could not be loaded: ${error.message}`;
    }
  }

  /** A finished job with stems, and a role that starts jobs: it can be mixed as the shared mix sets it. */
  mayMix(job) {
    const stems = (job.artifacts || []).filter((a) => /^audio\/(x-)?(wav|flac)$/.test(a.media_type));
    return job.status === "completed" && stems.length > 1 && MAKERS.has(this.role) && !this.project.archived;
  }

  mixButton(job) {
    const button = h("button", { type: "button", dataset: { role: "mix-job" } },
      h("span", { className: "visually-hidden" }, `${job.kind} job of ${formatTime(job.created_at)}: `), "Mix as the shared mix sets it");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const started = await projectsApi.mixJob(this.project.id, job.id);
        await this.loadJobs();
        this.jobsNote.textContent = "Mix job started: it is in the list, and open above.";
        this.jobsNote.dataset.mixJobId = started.id;
        announce("Mix job started");
        this.onOpenJob(started.id);
      } catch (error) {
        this.jobsNote.textContent = `The mix job was not started: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  // ---- activity --------------------------------------------------------------------------

  async loadActivity() {
    try {
      const { items } = await projectsApi.activity(this.project.id);
      this.activity.replaceChildren(...items.map((entry) => this.activityItem(entry)));
    } catch (error) {
      this.activity.replaceChildren(h("li", { className: "error" }, error.message));
    }
  }

  activityItem(entry) {
    return h("li", { dataset: { type: entry.type } },
      h("time", { dateTime: entry.at }, formatTime(entry.at)), " ",
      h("strong", {}, this.nameOf(entry.actor)), " ", describeEvent(entry.type, entry.data || {}, (id) => this.nameOf(id)));
  }

  addActivity(entry) {
    this.activity.prepend(this.activityItem(entry));
    while (this.activity.children.length > ACTIVITY_SHOWN) this.activity.lastElementChild.remove();
  }
}
