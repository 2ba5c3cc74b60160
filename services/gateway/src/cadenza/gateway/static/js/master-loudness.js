// A master's loudness before and after, as the render service measured them (the master
// stage's details: input_lufs and input_true_peak_db of what came in, lufs and true_peak_db
// of the file as written, and the target it aimed at).

import { h } from "./dom.js";

const MEASURES = [
  ["lufs", "Integrated loudness", "LUFS", "input_lufs", "lufs", "target_lufs"],
  ["true-peak", "True peak", "dBTP", "input_true_peak_db", "true_peak_db", "true_peak_ceiling_db"],
];

const shown = (value, unit) => (typeof value === "number" && Number.isFinite(value) ? `${value.toFixed(1)} ${unit}` : "–");

/** A table of before / after / target, or null when the stage reports no loudness. */
export function loudnessComparison(details) {
  if (!details || typeof details.lufs !== "number") return null;
  const rows = MEASURES.map(([key, label, unit, before, after, target]) =>
    h("tr", { dataset: { measure: key } },
      h("th", { scope: "row" }, label),
      h("td", { dataset: { when: "before" } }, shown(details[before], unit)),
      h("td", { dataset: { when: "after" } }, shown(details[after], unit)),
      h("td", { dataset: { when: "target" } }, key === "true-peak" ? `≤ ${shown(details[target], unit)}` : shown(details[target], unit)),
    ),
  );
  return h("table", { className: "loudness-comparison" },
    h("caption", {}, "Loudness before and after mastering"),
    h("thead", {}, h("tr", {}, h("td", {}), h("th", { scope: "col" }, "Before"), h("th", { scope: "col" }, "After"), h("th", { scope: "col" }, "Target"))),
    h("tbody", {}, rows),
  );
}
