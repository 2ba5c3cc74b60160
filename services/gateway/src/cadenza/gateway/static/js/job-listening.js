// Listening to a finished job's results: a blend's piano roll with a playhead that follows
// its preview (or its rendered mix), and a master's loudness before and after with a live
// level meter on the mastered file. Added to the artifact cards ArtifactList drew.

import { fetchBlob } from "./api.js";
import { loudnessComparison } from "./master-loudness.js";
import { LevelMeter } from "./level-meter.js";
import { MAX_MIDI_BYTES, PianoRoll } from "./piano-roll.js";

const isMidi = (artifact) => artifact.media_type === "audio/midi" || /\.midi?$/.test(artifact.name);
const base = (name) => name.replace(/^.*-/, "").replace(/\.\w+$/, "");

/** Into an artifact's card, under its player and waveform, before its download link. */
function place(home, ...elements) {
  const link = home.querySelector(":scope > a.button");
  for (const element of elements) home.insertBefore(element, link);
}

function card(list, name) {
  return [...list.querySelectorAll("li.artifact")].find((li) => li.dataset.artifact === name) || null;
}

/** A render of a catalog song has no MIDI artifact: the song's own MIDI is what it played. */
function songMidi(job) {
  const songId = job.kind === "render" ? job.input?.song_id : null;
  return songId ? { name: "the song's MIDI", url: `/api/v1/songs/${songId}/assets/midi`, bytes: 0 } : null;
}

export class JobListening {
  constructor(list) {
    this.list = list;
    this.rolls = [];
    this.meters = [];
    this.generation = 0;
  }

  clear() {
    this.generation += 1;
    for (const roll of this.rolls) roll.stop();
    for (const meter of this.meters) meter.close();
    this.rolls = [];
    this.meters = [];
  }

  /** After ArtifactList.show(job's artifacts): add what helps to hear them. */
  show(job) {
    this.clear();
    const artifacts = job.artifacts || [];
    const midi = artifacts.find(isMidi) || songMidi(job);
    if (midi) this.#roll(midi, artifacts);
    for (const stage of job.stages || []) {
      if (/^master/.test(stage.name) && stage.details) this.#master(stage, artifacts);
    }
  }

  #roll(midi, artifacts) {
    // The audio of the same music: the preview, else the master (the final file of the
    // full-song pipeline), else the rendered mix.
    const audible = ["preview", "mastered", "mix"]
      .map((wanted) => artifacts.find((a) => !isMidi(a) && base(a.name) === wanted && card(this.list, a.name)?.querySelector("audio")))
      .find(Boolean);
    const home = card(this.list, (audible || midi).name);
    if (!home) return;
    const roll = new PianoRoll(midi.name);
    this.rolls.push(roll);
    place(home, roll.element);
    const audio = audible ? home.querySelector("audio") : null;
    if (audio) roll.follow(audio);
    if (midi.bytes > MAX_MIDI_BYTES) {
      roll.fail("The MIDI is too large to draw here: download it.");
      return;
    }
    const generation = this.generation;
    fetchBlob(midi.url)
      .then((blob) => blob.arrayBuffer())
      .then((bytes) => {
        if (generation === this.generation) roll.show(bytes);
      })
      .catch((error) => roll.fail(`Could not load the MIDI: ${error.message}`));
  }

  #master(stage, artifacts) {
    const table = loudnessComparison(stage.details);
    const mastered = artifacts.find((a) => base(a.name) === "mastered" && !isMidi(a));
    const home = mastered ? card(this.list, mastered.name) : null;
    if (!home || !table) return;
    const audio = home.querySelector("audio");
    if (!audio) {
      place(home, table);
      return;
    }
    const meter = new LevelMeter(mastered.name);
    this.meters.push(meter);
    meter.attach(audio);
    place(home, table, meter.element);
  }
}
