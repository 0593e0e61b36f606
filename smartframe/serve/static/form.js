// The form and its state: the chosen file, the target, the options, and what they mean as an
// API query. The choices (fits, face policies, strategies) come from the server's OpenAPI
// description and the targets from /v1/presets, so the page offers whatever the library offers.

import { $, make } from "./dom.js";
import { formatBytes } from "./format.js";

export const state = {
  file: null,          // the chosen File
  fileKey: 0,          // bumps with every new file, so a stale answer is ignored
  presets: [],
  focus: null,         // [x, y] fractions of the photo, for strategy=focus
};

// Words for the choices the page knows; a choice it does not know is shown by its name.
const FIT_HINTS = {
  cover: "Fill the frame and crop what does not fit, without distortion.",
  pad: "Fit the whole image and fill the rest with a blurred copy.",
  stretch: "Fill the frame by stretching: nothing is cut, shapes distort.",
};
const FACE_HINTS = {
  auto: "The target's rule: refuse faces where the target refuses them, keep them elsewhere.",
  keep: "Faces guide the window; nothing else is done to them.",
  flag: "Report identifiable faces with a warning.",
  blur: "Blur every face, then check the result again.",
  pixelate: "Pixelate every face, then check the result again.",
  fill: "Cover every face with a solid fill.",
  avoid: "Place the window to leave faces out; blur what remains.",
  reject: "Refuse the image when an identifiable face shows.",
};
// The rule as the library applies it (analysis/fusion.py: steering_faces): only faces at least
// 5% of the photo's shorter side, accepted on their own score, steer the window and are kept
// whole when they fit; each result's reason says which faces were kept or cut, and why.
const SMART_RULE = "follows the subject and keeps whole the faces that steer it (at least 5% of " +
  "the photo's shorter side); smaller faces may be cut. Each result says which.";
const STRATEGY_HINTS = {
  "": "Smart: the window " + SMART_RULE,
  smart: "The window " + SMART_RULE,
  classic: "Like smart, from the classic cues alone (no subject network): the fastest that still looks.",
  centre: "The window stays in the middle.",
  focus: "The window centres on a point: click the photo (or use the arrow keys on it) to set it.",
};

function frameParameters(spec) {
  const params = {};
  for (const p of spec.paths["/v1/frame"].post.parameters) params[p.name] = p;
  return params;
}

function fillSelect(select, values, labels, selected) {
  select.replaceChildren();
  for (const value of values) {
    const option = make("option", "", labels[value] || value);
    option.value = value;
    if (value === selected) option.selected = true;
    select.append(option);
  }
}

function buildFit(values, selected) {
  const box = $("fit");
  box.replaceChildren();
  for (const value of values) {
    const id = "fit-" + value;
    const input = document.createElement("input");
    Object.assign(input, { type: "radio", name: "fit", id, value, checked: value === selected });
    const label = make("label", "", value);
    label.htmlFor = id;
    box.append(input, label);
  }
}

/** Build the option controls from the OpenAPI description. */
export function buildControls(spec) {
  const params = frameParameters(spec);
  buildFit(params.fit.schema.enum, params.fit.schema.default);
  fillSelect($("faces"), params.faces.schema.enum, {}, params.faces.schema.default);
  fillSelect($("strategy"), ["", ...params.strategy.schema.enum], { "": "smart (default)" }, "");
}

/** Offer `presets` (and a custom size) as targets, keeping the current choice where it still exists. */
export function setPresets(presets) {
  state.presets = presets;
  const select = $("target");
  const previous = select.value;
  const group = make("optgroup");
  group.label = "Presets";
  for (const preset of presets) {
    const option = make("option", "", `${preset.name} · ${preset.provider}`);
    option.value = preset.name;
    group.append(option);
  }
  const custom = make("option", "", "Custom size (WxH)");
  custom.value = "custom";
  select.replaceChildren(group, custom);
  const fallback = presets.some((p) => p.name === "sora-2") ? "sora-2" : (presets[0] || { name: "custom" }).name;
  select.value = previous && [...select.options].some((o) => o.value === previous) ? previous : fallback;
  updateHints();
}

function currentPreset() {
  return state.presets.find((p) => p.name === $("target").value) || null;
}

export function selectedFit() {
  const checked = document.querySelector('input[name="fit"]:checked');
  return checked ? checked.value : "cover";
}

/** Bring every hint, and the controls that depend on others, in line with the choices. */
export function updateHints() {
  const preset = currentPreset();
  $("custom-field").hidden = $("target").value !== "custom";
  if (preset) {
    const limit = preset.max_bytes ? `≤ ${formatBytes(preset.max_bytes)}` : "no byte limit";
    const faces = preset.refuses_faces ? "refuses faces" : "faces allowed";
    $("target-hint").textContent = `${preset.sizes.join(", ")} · ${preset.formats.join("/")} · ${limit} · ${faces}`;
  } else {
    $("target-hint").textContent = "Any exact size, no provider rules.";
  }
  const fit = selectedFit();
  $("fit-hint").textContent = FIT_HINTS[fit] || "";
  $("faces-hint").textContent = FACE_HINTS[$("faces").value] || "";
  const strategy = $("strategy").value;
  $("strategy-hint").textContent = fit === "cover" ? (STRATEGY_HINTS[strategy] || "") :
    "Only a cover fit has a window to place.";
  $("strategy").disabled = fit !== "cover";
  const focusing = strategy === "focus" && fit === "cover";
  $("photo-frame").classList.toggle("focusing", focusing);
  $("photo-frame").tabIndex = focusing ? 0 : -1;
  $("focus-dot").hidden = !(focusing && state.focus);
}

/** The target as the API wants it: one spec for the check, every size for framing. */
export function currentTarget() {
  const preset = currentPreset();
  if (preset) {
    return { check: preset.name, frame: preset.sizes.map((s) => `${preset.name}:${s}`), name: preset.name };
  }
  const size = $("custom").value.trim().toLowerCase().replace(/\s+/g, "").replace("×", "x");
  return { check: size, frame: [size], name: size };
}

/** The query string of /v1/frame and /v1/explain for `sizes` and the chosen options. */
export function frameQuery(sizes, extra = {}) {
  const q = new URLSearchParams({ size: sizes.join(",") });
  const fit = selectedFit();
  q.set("fit", fit);
  q.set("faces", $("faces").value);
  const strategy = $("strategy").value;
  if (fit === "cover" && strategy) {
    q.set("strategy", strategy);
    if (strategy === "focus") q.set("focus", (state.focus || [0.5, 0.5]).map((v) => v.toFixed(3)).join(","));
  }
  if (fit === "pad") q.set("background", "blur");
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q.toString();
}

/** Take `file` as the image to work on; false when there is none. */
export function setFile(file) {
  if (!file) return false;
  state.file = file;
  state.fileKey += 1;
  state.focus = null;
  $("file-name").textContent = `${file.name} · ${formatBytes(file.size)}`;
  $("drop").classList.add("has-file");
  $("drop").querySelector("strong").textContent = "Choose another image";
  $("run").disabled = false;
  return true;
}

/** Choose a face policy (a fix offered for a refusal). */
export function setFacePolicy(policy) {
  $("faces").value = policy;
  updateHints();
}

export function facePolicies() {
  return [...$("faces").options].map((o) => o.value);
}

/** Set the focus point (fractions of the photo, clamped to 0..1) and show it. */
export function setFocus(x, y) {
  const clamp = (v) => Math.min(1, Math.max(0, v));
  state.focus = [clamp(x), clamp(y)];
  const dot = $("focus-dot");
  dot.style.left = `${state.focus[0] * 100}%`;
  dot.style.top = `${state.focus[1] * 100}%`;
  dot.hidden = false;
}
