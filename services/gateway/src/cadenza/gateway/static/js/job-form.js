// The "New job" form: what to do with the track (or which songs to blend), its options,
// and the request it becomes for POST /api/v1/jobs.

import { getJson, postJson } from "./api.js";
import { BlendPicker, MAX_SONGS, MIN_SONGS } from "./blend-picker.js";
import { byId, h } from "./dom.js";
import { EffectsEditor } from "./effects-editor.js";
import { TrackUpload } from "./track-upload.js";

const FORMATS = [
  ["wav", "WAV"],
  ["flac", "FLAC"],
  ["mp3", "MP3"],
  ["ogg", "Ogg Vorbis"],
];
const PRESETS = [
  ["streaming", "Streaming: −14 LUFS, −1 dBTP"],
  ["apple", "Apple Music: −16 LUFS, −1 dBTP"],
  ["broadcast", "Broadcast (EBU R128): −23 LUFS, −1 dBTP"],
];
const NEEDS_TRACK = new Set(["effects", "separation", "master", "remix"]);

const value = (id) => byId(id).value;
const optionalNumber = (id) => (value(id) === "" ? undefined : Number(value(id)));

function fillSelect(select, options, chosen) {
  select.replaceChildren(...options.map(([name, label]) => h("option", { value: name }, label)));
  if (chosen) select.value = chosen;
}

export class JobForm {
  constructor({ onStarted, effectTypes }) {
    this.onStarted = onStarted;
    this.form = byId("job-form");
    this.error = byId("job-form-error");
    this.submit = byId("start-job");
    this.track = new TrackUpload();
    this.effects = new EffectsEditor({
      types: effectTypes,
      list: byId("effects-chain"),
      empty: byId("effects-empty"),
      typeSelect: byId("effect-type"),
      addButton: byId("add-effect"),
    });
    this.effects.add("reverb"); // a starting point; the chain is edited from here
    this.blend = new BlendPicker();
    this.models = new Map();
    for (const select of document.querySelectorAll(".format-select")) fillSelect(select, FORMATS, "wav");
    for (const select of document.querySelectorAll(".preset-select")) fillSelect(select, PRESETS, "streaming");
    byId("separation-model").addEventListener("change", () => this.#showStems());
    byId("blend-engine").addEventListener("change", () => this.#showEngineOptions());
    this.#showEngineOptions();
    for (const radio of this.form.elements.action) radio.addEventListener("change", () => this.#showOptions());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#start();
    });
    this.#showOptions();
  }

  get action() {
    return this.form.elements.action.value;
  }

  /** Choose what to do, as if its radio button were picked. */
  choose(action) {
    this.form.elements.action.value = action;
    this.#showOptions();
  }

  /** Fill the model choices from GET /api/v1/models (what the workers can run now). */
  async loadModels() {
    let listing;
    try {
      listing = await getJson("/api/v1/models");
    } catch (error) {
      this.error.textContent = `Could not list the separation models: ${error.message}`;
      return;
    }
    this.models = new Map(listing.models.map((model) => [model.name, model]));
    const options = listing.models.map((model) => [model.name, `${model.name} (${model.stems.join(", ")})`]);
    for (const select of document.querySelectorAll(".model-select")) fillSelect(select, options, listing.default);
    this.#showStems();
  }

  #showStems() {
    const model = this.models.get(value("separation-model"));
    const box = byId("separation-stems");
    box.replaceChildren(box.querySelector("legend"));
    byId("separation-model-description").textContent = model?.description || "";
    for (const stem of model?.stems || []) {
      box.append(h("label", {}, h("input", { type: "checkbox", name: "stem", value: stem, checked: true }), ` ${stem}`));
    }
  }

  /** The learned engine takes instruments, the Markov engine a band style: show the one. */
  #showEngineOptions() {
    const engine = value("blend-engine");
    for (const field of this.form.querySelectorAll("[data-engine]")) {
      field.hidden = field.dataset.engine !== engine;
      for (const control of field.querySelectorAll("select, input")) control.disabled = field.hidden;
    }
  }

  #showOptions() {
    // Inactive options are disabled as well as hidden: the browser then skips their
    // validation, and keyboard users never tab into them.
    for (const fieldset of this.form.querySelectorAll("fieldset.options")) {
      const active = fieldset.dataset.action === this.action;
      fieldset.hidden = !active;
      fieldset.disabled = !active;
    }
    byId("track-fieldset").disabled = !NEEDS_TRACK.has(this.action);
  }

  #request(upload) {
    const input = upload ? { upload_id: upload.id } : undefined;
    switch (this.action) {
      case "effects":
        return { kind: "effects", input, params: { chain: this.effects.chain(), format: value("effects-format") } };
      case "separation": {
        const stems = [...this.form.querySelectorAll('input[name="stem"]:checked')].map((box) => box.value);
        return { kind: "separation", input, params: { model: value("separation-model"), stems, format: value("separation-format") } };
      }
      case "master":
        return {
          kind: "master",
          input,
          params: {
            preset: value("master-preset"),
            target_lufs: optionalNumber("master-target"),
            true_peak_db: optionalNumber("master-ceiling"),
            output: { format: value("master-format") },
          },
        };
      case "remix": {
        const vocals = optionalNumber("remix-vocals-gain") || 0;
        return {
          kind: "pipeline",
          preset: "remix",
          input,
          params: {
            separation: { model: value("remix-model") },
            ...(vocals ? { mix: { gains_db: { vocals } } } : {}),
            master: { preset: value("remix-preset") },
          },
        };
      }
      case "blend": {
        const engine = value("blend-engine");
        const params = {
          songs: this.blend.ids(),
          length_bars: optionalNumber("blend-bars"),
          tempo_bpm: optionalNumber("blend-tempo"),
          engine,
          ...(engine === "markov" ? { style: value("blend-style") } : { ensemble: value("blend-ensemble") }),
          seed: optionalNumber("blend-seed") ?? 0,
        };
        return byId("blend-full-song").checked
          ? { kind: "pipeline", preset: "full-song", params }
          : { kind: "blend", params };
      }
      default:
        throw new Error(`unknown action ${this.action}`);
    }
  }

  /** What is missing before the request can go, as [message, element to focus]. */
  #problem(upload) {
    if (NEEDS_TRACK.has(this.action) && !upload) return ["Choose a track first (drop a file or use the file input).", byId("file-input")];
    if (this.action === "effects" && this.effects.chain().length === 0) return ["Add at least one effect.", byId("effect-type")];
    if (this.action === "separation" && !this.form.querySelector('input[name="stem"]:checked')) return ["Keep at least one stem.", byId("separation-model")];
    const songs = this.blend.ids().length;
    if (this.action === "blend" && (songs < MIN_SONGS || songs > MAX_SONGS)) return [`Choose ${MIN_SONGS} to ${MAX_SONGS} songs to blend (${songs} chosen).`, byId("blend-search")];
    return null;
  }

  async #start() {
    this.error.replaceChildren();
    this.submit.disabled = true;
    try {
      const upload = NEEDS_TRACK.has(this.action) ? await this.track.current() : null;
      const problem = this.#problem(upload);
      if (problem) {
        this.error.textContent = problem[0];
        problem[1].focus();
        return;
      }
      const request = this.#request(upload);
      const project = byId("job-project").value;
      if (project) request.project_id = project;
      const job = await postJson("/api/v1/jobs", request);
      this.onStarted(job);
    } catch (error) {
      this.error.replaceChildren(
        h("p", {}, `The job was not started: ${error.message}`),
        ...(error.fieldErrors?.length ? [h("ul", {}, error.fieldErrors.map((e) => h("li", {}, `${e.field}: ${e.message}`)))] : []),
      );
    } finally {
      this.submit.disabled = false;
    }
  }
}
