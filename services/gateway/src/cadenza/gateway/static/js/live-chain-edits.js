// Edits to a live chain as the messages the session takes: parameters of effects that stay
// in place change with "set" (ramped, state kept), anything else replaces the chain.

/** The messages that turn the chain `from` into `to` (both as the API takes them). */
export function chainEdits(from, to) {
  const sameEffects = from.length === to.length && from.every((effect, i) => effect.type === to[i].type);
  if (!sameEffects) return [{ type: "chain", chain: to }];
  const edits = [];
  to.forEach((effect, index) => {
    const params = {};
    for (const [name, value] of Object.entries(effect)) {
      if (name !== "type" && from[index][name] !== value) params[name] = value;
    }
    if (Object.keys(params).length > 0) edits.push({ type: "set", index, params });
  });
  return edits;
}
