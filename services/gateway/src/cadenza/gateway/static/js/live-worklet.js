// The live panel's two audio-thread processors (loaded with audioWorklet.addModule; a worklet
// scope has no DOM and no imports of ours). Blocks are interleaved stereo Float32Arrays, the
// wire format of WS /api/v1/live (little-endian, as every browser's typed arrays are here).
//
// live-capture: from a start frame, gathers render quanta into blocks of `blockFrames` and
// posts each one (its buffer transferred). For a file it stops after exactly `frames` frames,
// zero-padding the last block, so the stream starts and ends with the file.
//
// live-playback: plays processed blocks from a bounded ring buffer and counts underruns:
// render quanta that needed audio while the buffer was empty, once playback had started;
// and the frames it played.

const CHANNELS = 2;
const RENDER_QUANTUM = 128;
const REPORT_EVERY_QUANTA = 40; // ~0.1 s: figures for the page, not a message per quantum

class LiveCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.blockFrames = options.processorOptions.blockFrames;
    this.block = new Float32Array(this.blockFrames * CHANNELS);
    this.filled = 0;
    this.startFrame = Infinity; // nothing is captured until told where to start
    this.endFrame = Infinity;
    this.ended = false;
    this.port.onmessage = ({ data }) => {
      if (data.type === "start") this.#start(data.frame, data.frames);
      else if (data.type === "stop") this.endFrame = Math.min(this.endFrame, currentFrame);
    };
  }

  #start(frame, frames) {
    // A file starts at a frame chosen ahead of time; the microphone now.
    this.startFrame = frame ?? currentFrame;
    this.endFrame = frames === null ? Infinity : this.startFrame + frames;
    // The quantum at currentFrame has been rendered: a start inside it came too late.
    if (frame !== null && frame < currentFrame + RENDER_QUANTUM) this.port.postMessage({ type: "late" });
  }

  process(inputs) {
    if (this.ended) return false;
    const channels = inputs[0];
    const quantum = channels[0]?.length ?? RENDER_QUANTUM;
    const from = Math.max(this.startFrame - currentFrame, 0);
    const to = Math.min(this.endFrame - currentFrame, quantum);
    // An input with no active source has no channels: that is silence. Mono goes to both.
    const left = channels[0];
    const right = channels[1] ?? left;
    for (let i = from; i < to; i += 1) {
      const at = this.filled * CHANNELS;
      this.block[at] = left ? left[i] : 0;
      this.block[at + 1] = right ? right[i] : 0;
      this.filled += 1;
      if (this.filled === this.blockFrames) this.#post();
    }
    if (currentFrame + quantum >= this.endFrame) this.#end();
    return true;
  }

  #post() {
    this.port.postMessage({ type: "block", samples: this.block.buffer }, [this.block.buffer]);
    this.block = new Float32Array(this.blockFrames * CHANNELS);
    this.filled = 0;
  }

  #end() {
    if (this.filled > 0) this.#post(); // the rest of the block is zeros already
    this.ended = true;
    this.port.postMessage({ type: "end" });
  }
}

class LivePlayback extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { capacityFrames, prebufferFrames } = options.processorOptions;
    this.ring = new Float32Array(capacityFrames * CHANNELS);
    this.capacity = capacityFrames;
    this.prebuffer = prebufferFrames;
    this.readAt = 0; // frames
    this.size = 0;
    this.started = false; // once, at the first full prebuffer
    this.playing = false; // false again after an underrun, until the buffer refills
    this.ending = false;
    this.underruns = 0;
    this.overflowBlocks = 0;
    this.playedFrames = 0;
    this.reported = "";
    this.quanta = 0;
    this.port.onmessage = ({ data }) => {
      if (data.type === "block") this.#push(new Float32Array(data.samples));
      else if (data.type === "end") this.ending = true;
    };
  }

  #push(samples) {
    const frames = samples.length / CHANNELS;
    if (this.size + frames > this.capacity) {
      // Far behind (the page stalled): drop the oldest audio rather than the newest.
      const excess = this.size + frames - this.capacity;
      this.readAt = (this.readAt + excess) % this.capacity;
      this.size -= excess;
      this.overflowBlocks += 1;
    }
    let writeAt = (this.readAt + this.size) % this.capacity;
    for (let i = 0; i < frames; i += 1) {
      this.ring[writeAt * CHANNELS] = samples[i * CHANNELS];
      this.ring[writeAt * CHANNELS + 1] = samples[i * CHANNELS + 1];
      writeAt = writeAt + 1 === this.capacity ? 0 : writeAt + 1;
    }
    this.size += frames;
  }

  process(_inputs, outputs) {
    const [left, right] = outputs[0];
    const quantum = left.length;
    if (!this.playing && (this.size >= this.prebuffer || (this.ending && this.size > 0))) {
      this.playing = true;
      this.started = true;
    }
    const take = this.playing ? Math.min(quantum, this.size) : 0;
    for (let i = 0; i < take; i += 1) {
      left[i] = this.ring[this.readAt * CHANNELS];
      right[i] = this.ring[this.readAt * CHANNELS + 1];
      this.readAt = this.readAt + 1 === this.capacity ? 0 : this.readAt + 1;
    }
    this.size -= take;
    this.playedFrames += take;
    if (this.started && !this.ending && take < quantum) {
      this.underruns += 1;
      this.playing = false; // refill before playing on, or every quantum would stutter
    }
    this.quanta += 1;
    const drained = this.ending && this.size === 0;
    if (drained || this.quanta % REPORT_EVERY_QUANTA === 0) this.#report(drained);
    return !drained;
  }

  #report(drained) {
    const { underruns, overflowBlocks, playedFrames } = this;
    const figures = `${underruns}/${overflowBlocks}/${playedFrames}/${drained}`;
    if (figures === this.reported) return;
    this.reported = figures;
    this.port.postMessage({ type: "figures", underruns, overflowBlocks, playedFrames, drained });
  }
}

registerProcessor("live-capture", LiveCapture);
registerProcessor("live-playback", LivePlayback);
