// What each stage reports when it completes, in words: the measured loudness of a master,
// the key and tempo of a blend, the model of a separation…

import { detailsList, formatSeconds, h } from "./dom.js";

const signed = (value, unit) => `${value > 0 ? "+" : ""}${Number(value).toFixed(1)} ${unit}`;

function masterPairs(d) {
  return [
    ["Loudness", d.lufs !== undefined ? `${Number(d.lufs).toFixed(1)} LUFS` : null],
    ["True peak", d.true_peak_db !== undefined ? `${Number(d.true_peak_db).toFixed(1)} dBTP` : null],
    ["Target", d.target_lufs !== undefined ? `${d.target_lufs} LUFS, ceiling ${d.true_peak_ceiling_db} dBTP` : null],
    ["Preset", d.preset],
    ["Input loudness", d.input_lufs !== undefined ? `${Number(d.input_lufs).toFixed(1)} LUFS` : null],
    ["Input true peak", d.input_true_peak_db !== undefined ? `${Number(d.input_true_peak_db).toFixed(1)} dBTP` : null],
    ["Gain applied", d.gain_db !== undefined ? signed(d.gain_db, "dB") : null],
  ];
}

function blendPairs(d) {
  const key = d.key_name || (d.key ? `${d.key} ${d.mode || ""}`.trim() : null);
  const originality = d.originality;
  return [
    ["Key", key],
    ["Tempo", d.tempo_bpm ? `${Math.round(d.tempo_bpm)} BPM` : null],
    ["Time signature", d.time_signature],
    ["Length", d.bars ? `${d.bars} bars (${formatSeconds(d.duration_s)})` : null],
    ["Engine", d.engine],
    ["Style", d.style_mix ? Object.entries(d.style_mix).map(([style, n]) => `${style} × ${n}`).join(", ") : d.style],
    ["Texture", d.texture ? `${d.texture}${d.ensemble ? ` (${d.ensemble})` : ""}` : null],
    ["Form", Array.isArray(d.sections) ? d.sections.map((s) => s.name).join(" · ") : null],
    ["Originality", originality ? (originality.passed ? "passed" : "not passed") : null],
  ];
}

function separationPairs(d) {
  return [
    ["Model", d.model],
    ["Device", d.device],
    ["Cache", d.cache],
    ["Time", d.seconds !== undefined ? `${Number(d.seconds).toFixed(1)} s` : null],
    ["Speed", d.realtime_factor !== undefined ? `${Number(d.realtime_factor).toFixed(1)}× real time` : null],
  ];
}

function renderPairs(d) {
  return [
    ["SoundFont", d.soundfont],
    ["Duration", d.duration_s !== undefined ? formatSeconds(d.duration_s) : null],
    ["Tracks", Array.isArray(d.tracks) ? d.tracks.length : d.tracks],
    ["Sample rate", d.sample_rate ? `${d.sample_rate} Hz` : null],
  ];
}

function mixPairs(d) {
  return [
    ["Stems", Array.isArray(d.stems) ? d.stems.join(", ") : d.stems],
    ["Peak", d.peak_db !== undefined ? `${Number(d.peak_db).toFixed(1)} dBFS` : null],
  ];
}

function otherPairs(d) {
  return Object.entries(d)
    .filter(([, value]) => ["string", "number", "boolean"].includes(typeof value))
    .map(([name, value]) => [name.replaceAll("_", " "), value]);
}

const BY_KIND = [
  [/^master/, masterPairs],
  [/^blend/, blendPairs],
  [/^separation/, separationPairs],
  [/^render/, renderPairs],
  [/^mix/, mixPairs],
];

/** The details of a completed stage as a titled definition list, or null if it has none. */
export function stageDetails(stage) {
  const details = stage.details || {};
  if (Object.keys(details).length === 0) return null;
  const pairsOf = BY_KIND.find(([pattern]) => pattern.test(stage.name))?.[1] || otherPairs;
  const list = detailsList(pairsOf(details));
  if (list.childElementCount === 0) return null;
  return h(
    "section",
    { className: "stage-details", dataset: { stage: stage.name }, aria: { label: `${stage.name} details` } },
    h("h3", {}, `${stage.name[0].toUpperCase()}${stage.name.slice(1)}`),
    list,
  );
}
