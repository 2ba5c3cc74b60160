// Small DOM helpers: elements are built with properties, never from HTML strings, so
// nothing the API returns (song titles, error messages) can turn into markup.

/**
 * Create an element: h("button", {type: "button", onclick: f}, "Add").
 * Keys starting with "on" become listeners, "dataset" and "aria" take objects, the rest are
 * properties (or attributes when the element has no such property).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else if (key === "aria") {
      for (const [name, text] of Object.entries(value)) element.setAttribute(`aria-${name}`, text);
    } else if (key in element && key !== "list") {
      element[key] = value;
    } else {
      element.setAttribute(key, value === true ? "" : value);
    }
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}

const announcer = () => document.getElementById("announcer");

/** Say something to screen readers (the polite live region), e.g. "effects completed". */
export function announce(text) {
  const region = announcer();
  if (!region) return;
  // Replacing the text node makes repeated identical messages heard again.
  region.textContent = "";
  window.setTimeout(() => { region.textContent = text; }, 30);
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const whole = Math.round(seconds);
  const minutes = Math.floor(whole / 60);
  return `${minutes}:${String(whole % 60).padStart(2, "0")}`;
}

export function formatPercent(fraction) {
  return `${Math.round((fraction || 0) * 100)}%`;
}

export function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** A definition list from [label, value] pairs, skipping empty values. */
export function detailsList(pairs) {
  const list = h("dl", { className: "details" });
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    list.append(h("dt", {}, label), h("dd", {}, String(value)));
  }
  return list;
}

/** Call `fn` once input has paused for `ms` milliseconds. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), ms);
  };
}
