// The effects chain: add effects, set their parameters, reorder and remove them. Every
// control has a label naming the effect's position, so the chain reads well by ear too.
// `types` is the API's effect catalogue (effect-types.js); `onChange` hears every edit (the
// live panel applies them while it streams); `noun` names the effects in labels, so two
// editors on one page never share a button's name; `only` picks the effect types offered.
//
// A field accepts any number between the contract's bounds (step="any": a form stricter than
// the API refuses what it takes, as a step that missed a default once refused whole chains);
// the arrow keys nudge by the catalogue's step for the parameter.

import { announce, h } from "./dom.js";

let nextId = 0;

function nudge(input, direction) {
  const step = Number(input.dataset.nudge);
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  const moved = Math.round((Number(input.value) + direction * step) / step) * step;
  const value = Math.min(Number(input.max), Math.max(Number(input.min), moved));
  input.value = String(Number(value.toFixed(digits)));
  input.dispatchEvent(new Event("input", { bubbles: true }));
}

export class EffectsEditor {
  constructor({ types, list, empty, typeSelect, addButton, noun = "effect", onChange = () => {}, only = () => true }) {
    this.types = types;
    this.list = list;
    this.empty = empty;
    this.typeSelect = typeSelect;
    this.noun = noun;
    this.onChange = onChange;
    list.addEventListener("input", () => this.onChange());
    list.addEventListener("keydown", (event) => {
      const input = event.target;
      if (!input.dataset?.nudge || !["ArrowUp", "ArrowDown"].includes(event.key)) return;
      if (input.value === "" || Number.isNaN(Number(input.value))) return;
      event.preventDefault();
      nudge(input, event.key === "ArrowUp" ? 1 : -1);
    });
    for (const [type, spec] of Object.entries(types)) {
      if (!only(spec)) continue;
      typeSelect.append(h("option", { value: type }, spec.label));
    }
    typeSelect.value = "reverb";
    addButton.addEventListener("click", () => {
      const item = this.add(typeSelect.value);
      item.querySelector("input, button")?.focus();
    });
  }

  /** Append an effect with its default parameters (or `values`); returns its list item. */
  add(type, values = {}) {
    const spec = this.types[type];
    const id = `effect-${(nextId += 1)}`;
    const inputs = spec.params.map((param) => {
      const inputId = `${id}-${param.name}`;
      const input = h("input", {
        id: inputId,
        type: "number",
        min: param.min,
        max: param.max,
        step: "any",
        value: values[param.name] ?? param.value,
        required: true,
        inputMode: "decimal",
        title: param.description,
        dataset: { param: param.name, nudge: param.nudge },
      });
      return h("div", { className: "field" }, h("label", { htmlFor: inputId }, param.label), input);
    });
    const legend = h("legend");
    const item = h(
      "li",
      { dataset: { type } },
      h(
        "fieldset",
        {},
        legend,
        h("div", { className: "effect-params" }, inputs),
        h(
          "div",
          { className: "inline" },
          h("button", { type: "button", dataset: { move: "-1" }, onclick: () => this.#move(item, -1) }, "Move up"),
          h("button", { type: "button", dataset: { move: "1" }, onclick: () => this.#move(item, 1) }, "Move down"),
          h("button", { type: "button", dataset: { remove: "" }, onclick: () => this.#remove(item) }, "Remove"),
        ),
      ),
    );
    this.list.append(item);
    this.#renumber();
    announce(`${spec.label} added as ${this.noun} ${this.list.children.length}`);
    this.onChange();
    return item;
  }

  /** The chain as the API takes it: [{type, parameter: value, …}]. */
  chain() {
    return [...this.list.children].map((item) => {
      const effect = { type: item.dataset.type };
      for (const input of item.querySelectorAll("input[data-param]")) {
        if (input.value !== "") effect[input.dataset.param] = Number(input.value);
      }
      return effect;
    });
  }

  #move(item, step) {
    const items = [...this.list.children];
    const index = items.indexOf(item);
    const target = index + step;
    if (target < 0 || target >= items.length) return;
    if (step < 0) this.list.insertBefore(item, items[target]);
    else this.list.insertBefore(item, items[target].nextSibling);
    this.#renumber();
    // At either end the button just pressed is disabled; the other one keeps the focus.
    const same = item.querySelector(`[data-move="${step}"]`);
    (same.disabled ? item.querySelector(`[data-move="${-step}"]`) : same).focus();
    announce(`${this.types[item.dataset.type].label} is now ${this.noun} ${target + 1}`);
    this.onChange();
  }

  #remove(item) {
    const items = [...this.list.children];
    const index = items.indexOf(item);
    const label = this.types[item.dataset.type].label;
    item.remove();
    this.#renumber();
    // Keep the keyboard near where it was: the next effect, else the "add" control.
    const neighbour = this.list.children[Math.min(index, this.list.children.length - 1)];
    (neighbour?.querySelector("[data-remove]") || this.typeSelect).focus();
    announce(`${label} removed`);
    this.onChange();
  }

  #renumber() {
    const items = [...this.list.children];
    items.forEach((item, index) => {
      const label = this.types[item.dataset.type].label;
      const name = `${this.noun} ${index + 1} (${label})`;
      item.querySelector("legend").textContent = `${index + 1}. ${label}`;
      item.querySelector('[data-move="-1"]').setAttribute("aria-label", `Move ${name} up`);
      item.querySelector('[data-move="-1"]').disabled = index === 0;
      item.querySelector('[data-move="1"]').setAttribute("aria-label", `Move ${name} down`);
      item.querySelector('[data-move="1"]').disabled = index === items.length - 1;
      item.querySelector("[data-remove]").setAttribute("aria-label", `Remove ${name}`);
    });
    this.empty.hidden = items.length > 0;
  }
}
