// The effects the editor offers, as the API lists them (GET /api/v1/effects): built from the
// effect contract itself, so a new effect or parameter needs no edit here. The gateway
// validates every chain again and names any field it refuses.

import { getJson } from "./api.js";

// The contract's bounds; an exclusive maximum (rate_hz < 100) becomes a hair below it.
function control(parameter) {
  const below = parameter.exclusive_maximum ? parameter.nudge / 100 : 0;
  return {
    name: parameter.name,
    label: parameter.label,
    description: parameter.description,
    min: parameter.minimum,
    max: parameter.maximum - below,
    nudge: parameter.nudge,
    value: parameter.suggested,
  };
}

/** {type: {label, description, live, params: [{name, label, min, max, nudge, value}]}} */
export async function loadEffectTypes() {
  const { effects } = await getJson("/api/v1/effects");
  return Object.fromEntries(
    effects.map((effect) => [
      effect.type,
      {
        label: effect.label,
        description: effect.description,
        live: effect.live,
        params: effect.parameters.map(control),
      },
    ]),
  );
}
