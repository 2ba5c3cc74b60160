// The "Live effects" panel: a source (a file decoded in the page, or the microphone), a chain
// edited with the same editor as jobs (applied as it changes while live), a block length,
// Start and Stop, the run's status and figures, and what was heard, to download.

import { byId } from "./dom.js";
import { EffectsEditor } from "./effects-editor.js";
import { decodeFile, openMicrophone, SAMPLE_RATE } from "./live-audio-graph.js";
import { LiveFigures } from "./live-figures.js";
import { LiveRun } from "./live-run.js";

const FIGURES_EVERY_MS = 250;

function outOfRange(input) {
  const { rangeUnderflow, rangeOverflow, badInput } = input.validity;
  return rangeUnderflow || rangeOverflow || badInput;
}

export class LivePanel {
  constructor({ effectTypes }) {
    this.form = byId("live-form");
    this.status = byId("live-status");
    this.startButton = byId("live-start");
    this.stopButton = byId("live-stop");
    this.fileInput = byId("live-file");
    this.fileStatus = byId("live-file-status");
    this.blockSelect = byId("live-block-ms");
    this.chainNote = byId("live-chain-note");
    this.download = byId("live-download");
    this.downloadNote = byId("live-download-note");
    this.figures = new LiveFigures();
    this.editor = new EffectsEditor({
      types: effectTypes,
      list: byId("live-effects-chain"),
      empty: byId("live-effects-empty"),
      typeSelect: byId("live-effect-type"),
      addButton: byId("live-add-effect"),
      noun: "live effect",
      // The server refuses some live (pitch_shift needs half a second of look-ahead).
      only: (effect) => effect.live,
      onChange: () => this.#chainEdited(),
    });
    this.editor.add("reverb"); // a starting point, as for jobs
    this.file = null; // {name, buffer} once decoded
    this.decoding = null;
    this.run = null;
    this.starting = false; // waiting for the file's decoding or the microphone
    this.fileInput.addEventListener("change", () => {
      if (this.fileInput.files.length) this.#choose(this.fileInput.files[0]);
    });
    for (const radio of this.form.elements["live-source"]) radio.addEventListener("change", () => this.#showSource());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#start();
    });
    this.stopButton.addEventListener("click", () => this.stop());
    this.#showSource();
  }

  /** Stop the run, if one is going (sign-out, or the Stop button). */
  stop() {
    if (this.run && !this.run.over) this.run.stop();
  }

  get #sourceKind() {
    return this.form.elements["live-source"].value;
  }

  #showSource() {
    const file = this.#sourceKind === "file";
    byId("live-file-field").hidden = !file;
    this.fileInput.disabled = !file;
  }

  #choose(file) {
    this.file = null;
    this.fileStatus.textContent = `Decoding ${file.name}…`;
    this.decoding = decodeFile(file).then(
      (buffer) => {
        this.file = { name: file.name, buffer };
        const channels = buffer.numberOfChannels === 1 ? "mono (played on both sides)" : "stereo";
        this.fileStatus.textContent = `${file.name}: ${buffer.duration.toFixed(1)} s, ${channels}; it stays on this computer.`;
        return this.file;
      },
      (error) => {
        this.fileStatus.textContent = `${file.name} could not be decoded here: ${error.message || "not audio the browser can read"}`;
        return null;
      },
    );
  }

  async #source() {
    if (this.#sourceKind === "microphone") {
      this.#say("connecting", "Asking for the microphone…");
      try {
        return { stream: await openMicrophone(), name: "microphone" };
      } catch (error) {
        this.#say("error", `The microphone could not be used: ${error.message}`);
        return null;
      }
    }
    const file = this.file || (await this.decoding);
    if (!file) {
      this.#say("error", this.decoding ? "The browser could not decode that file: choose another." : "Choose an audio file first.");
      this.fileInput.focus();
      return null;
    }
    return { buffer: file.buffer, name: file.name.replace(/\.[^.]*$/, "") };
  }

  async #start() {
    if (this.starting || (this.run && !this.run.over)) return;
    const chain = this.editor.chain();
    if (chain.length === 0) {
      this.#say("error", "Add at least one effect.");
      byId("live-effect-type").focus();
      return;
    }
    this.starting = true;
    const source = await this.#source().finally(() => {
      this.starting = false;
    });
    if (!source) return;
    this.#forgetDownload();
    const blockFrames = (Number(this.blockSelect.value) * SAMPLE_RATE) / 1000;
    let run;
    try {
      run = new LiveRun({ source, chain, blockFrames, onState: (state, text) => this.#runState(run, state, text) });
    } catch (error) {
      for (const track of source.stream?.getTracks() || []) track.stop();
      this.#say("error", `This browser cannot play live audio here: ${error.message}`);
      return;
    }
    this.run = run;
    this.#setRunning(true);
    const showFigures = () => {
      if (this.run === run) this.figures.show(run.figures());
    };
    const timer = window.setInterval(showFigures, FIGURES_EVERY_MS);
    // Until the audio has played out: underruns and frames played are final only then.
    run.released.then(() => {
      window.clearInterval(timer);
      showFigures();
    });
    await run.start();
  }

  #runState(run, state, text) {
    this.#say(state, text);
    if (!run.over) return;
    this.figures.show(run.figures());
    this.#setRunning(false);
    if (run.recording.frames > 0) this.#offerDownload(run);
  }

  #chainEdited() {
    if (!this.run || this.run.over) {
      this.chainNote.textContent = "";
      return;
    }
    // A value the API refuses would close the session: hold it until it is in range.
    const wrong = [...byId("live-effects-chain").querySelectorAll("input[data-param]")].find(outOfRange);
    if (wrong) {
      const effect = wrong.closest("fieldset").querySelector("legend").textContent;
      this.chainNote.textContent = `${effect}, ${wrong.labels[0].textContent}: from ${wrong.min} to ${wrong.max}; not applied yet.`;
      return;
    }
    const chain = this.editor.chain();
    if (chain.length === 0) {
      this.chainNote.textContent = "A live chain needs an effect: the last one plays on until you add another.";
      return;
    }
    this.chainNote.textContent = "";
    this.run.applyChain(chain);
  }

  #setRunning(running) {
    const hadFocus = document.activeElement;
    this.startButton.disabled = running;
    this.stopButton.disabled = !running;
    byId("live-source").disabled = running;
    this.blockSelect.disabled = running;
    // The button pressed is now disabled: the keyboard goes on to the other one.
    if (running && hadFocus === this.startButton) this.stopButton.focus();
    if (!running && hadFocus === this.stopButton) this.startButton.focus();
  }

  #say(state, text) {
    this.status.dataset.state = state;
    this.status.textContent = text;
  }

  #offerDownload(run) {
    const blob = run.recording.wav(run.sourceFrames);
    const name = `${run.source.name}-live.wav`;
    this.download.href = URL.createObjectURL(blob);
    this.download.download = name;
    this.download.dataset.download = name;
    this.download.hidden = false;
    const frames = Math.min(run.recording.frames, run.sourceFrames);
    const capped = run.recording.full ? " The recording stopped at its 10-minute limit." : "";
    this.downloadNote.textContent = `${name}: ${(frames / SAMPLE_RATE).toFixed(1)} s, 48 kHz stereo, 32-bit float WAV.${capped}`;
  }

  #forgetDownload() {
    if (this.download.href.startsWith("blob:")) URL.revokeObjectURL(this.download.href);
    this.download.removeAttribute("href");
    this.download.hidden = true;
    this.downloadNote.textContent = "";
  }
}
