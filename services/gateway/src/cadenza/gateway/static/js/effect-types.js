// The effects the editor offers, with the API's names, units and ranges (README, "Effects
// jobs"). The gateway validates again and names any field it refuses.

const unit = (name, label, min, max, step, value) => ({ name, label, min, max, step, value });

export const EFFECT_TYPES = {
  gain: { label: "Gain", params: [unit("gain_db", "Gain (dB)", -60, 24, 0.5, 0)] },
  compressor: {
    label: "Compressor",
    params: [
      unit("threshold_db", "Threshold (dB)", -60, 0, 1, -18),
      unit("ratio", "Ratio", 1, 100, 0.5, 3),
      unit("attack_ms", "Attack (ms)", 0.01, 1000, 0.5, 1),
      unit("release_ms", "Release (ms)", 1, 5000, 1, 100),
    ],
  },
  limiter: {
    label: "Limiter",
    params: [unit("threshold_db", "Threshold (dB)", -60, 0, 0.5, -1), unit("release_ms", "Release (ms)", 1, 5000, 1, 100)],
  },
  reverb: {
    label: "Reverb",
    params: [
      unit("room_size", "Room size (0–1)", 0, 1, 0.05, 0.5),
      unit("damping", "Damping (0–1)", 0, 1, 0.05, 0.5),
      unit("wet_level", "Wet level (0–1)", 0, 1, 0.01, 0.33),
      unit("dry_level", "Dry level (0–1)", 0, 1, 0.01, 0.4),
      unit("width", "Width (0–1)", 0, 1, 0.05, 1),
    ],
  },
  delay: {
    label: "Delay",
    params: [
      unit("delay_seconds", "Delay (s)", 0, 30, 0.01, 0.5),
      unit("feedback", "Feedback (0–1)", 0, 1, 0.05, 0),
      unit("mix", "Mix (0–1)", 0, 1, 0.05, 0.5),
    ],
  },
  chorus: {
    label: "Chorus",
    params: [
      unit("rate_hz", "Rate (Hz)", 0, 99, 0.1, 1),
      unit("depth", "Depth (0–1)", 0, 1, 0.05, 0.25),
      unit("centre_delay_ms", "Centre delay (ms)", 1, 100, 0.5, 7),
      unit("feedback", "Feedback (−1–1)", -1, 1, 0.05, 0),
      unit("mix", "Mix (0–1)", 0, 1, 0.05, 0.5),
    ],
  },
  phaser: {
    label: "Phaser",
    params: [
      unit("rate_hz", "Rate (Hz)", 0, 99, 0.1, 1),
      unit("depth", "Depth (0–1)", 0, 1, 0.05, 0.5),
      unit("centre_frequency_hz", "Centre frequency (Hz)", 1, 20000, 10, 1300),
      unit("feedback", "Feedback (−1–1)", -1, 1, 0.05, 0),
      unit("mix", "Mix (0–1)", 0, 1, 0.05, 0.5),
    ],
  },
  distortion: { label: "Distortion", params: [unit("drive_db", "Drive (dB)", 0, 100, 1, 25)] },
  highpass_filter: { label: "High-pass filter", params: [unit("cutoff_frequency_hz", "Cutoff (Hz)", 1, 96000, 1, 80)] },
  lowpass_filter: { label: "Low-pass filter", params: [unit("cutoff_frequency_hz", "Cutoff (Hz)", 1, 96000, 1, 8000)] },
  peak_filter: {
    label: "Peak EQ",
    params: [
      unit("cutoff_frequency_hz", "Frequency (Hz)", 1, 96000, 1, 440),
      unit("gain_db", "Gain (dB)", -48, 48, 0.5, 0),
      unit("q", "Q", 0.05, 20, 0.05, 0.7071),
    ],
  },
  pitch_shift: { label: "Pitch shift", params: [unit("semitones", "Semitones", -72, 72, 1, 0)] },
  bitcrush: { label: "Bitcrush", params: [unit("bit_depth", "Bit depth", 0, 32, 1, 8)] },
  invert: { label: "Invert polarity", params: [] },
};
