// The studio page: decides between sign-in and the studio, then wires the parts together.

import { setUpSignIn, showAccount, signOut, whoAmI } from "./auth-view.js";
import { CatalogBrowser } from "./catalog-view.js";
import { CurrentJob } from "./current-job.js";
import { announce, byId } from "./dom.js";
import { loadEffectTypes } from "./effect-types.js";
import { JobForm } from "./job-form.js";
import { JobsList } from "./jobs-list.js";
import { LiveConnection } from "./live.js";
import { LivePanel } from "./live-panel.js";
import { ProjectsView } from "./projects-view.js";
import { SIGNED_OUT } from "./session.js";
import { showWatchedJobInTransport } from "./transport-display.js";

// The effects editors are built from the API's catalogue, which needs no sign-in.
let effectTypes;
try {
  effectTypes = await loadEffectTypes();
} catch (error) {
  byId("loading").textContent = `The studio could not load the effects from the API: ${error.message}`;
  throw error;
}

const live = new LiveConnection();
const jobsList = new JobsList({ live, onOpen: (id) => openJob(id) });
const currentJob = new CurrentJob(live, { onEnded: () => jobsList.refresh() });
const form = new JobForm({
  effectTypes,
  onStarted: async (job) => {
    await currentJob.open(job);
    announce(`${job.kind} job started`);
    byId("current-job-title").scrollIntoView({ block: "start" });
    jobsList.refresh();
  },
});
const livePanel = new LivePanel({ effectTypes });
const projects = new ProjectsView({ onOpenJob: (id) => openJob(id) });
showWatchedJobInTransport();
const catalog = new CatalogBrowser({
  onAddToBlend: (song) => {
    form.choose("blend");
    form.blend.add(song);
  },
});

async function openJob(id) {
  try {
    await currentJob.open(id);
    const title = byId("current-job-title");
    title.tabIndex = -1;
    title.focus();
  } catch (error) {
    byId("job-error").textContent = error.message;
  }
}

function show({ signIn }) {
  byId("loading").hidden = true;
  byId("sign-in").hidden = !signIn;
  byId("studio").hidden = signIn;
  byId("site-nav").hidden = signIn;
}

async function startStudio(me) {
  showAccount(me);
  show({ signIn: false });
  live.connect();
  await Promise.all([form.loadModels(), jobsList.refresh(), catalog.search(), form.blend.search(), projects.start(me)]);
}

async function boot() {
  let me;
  try {
    me = await whoAmI();
  } catch (error) {
    byId("loading").textContent = `The studio could not reach the API: ${error.message}`;
    return;
  }
  if (me) {
    await startStudio(me);
  } else {
    showAccount(null);
    show({ signIn: true });
    byId("sign-in-email").focus();
  }
}

setUpSignIn(boot);

byId("sign-out").addEventListener("click", async () => {
  live.close();
  livePanel.stop();
  projects.stop();
  await signOut();
  await boot();
});

window.addEventListener(SIGNED_OUT, (event) => {
  live.close();
  livePanel.stop();
  projects.stop();
  byId("sign-in-error").textContent = event.detail || "";
  boot();
});

boot();
