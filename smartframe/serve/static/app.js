// The upload page: plain JavaScript, no build step, nothing loaded from elsewhere.
// It reads the choices (fits, face policies, strategies) from the server's OpenAPI description
// and the targets from /v1/presets, so it offers whatever the library offers.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  file: null,          // the chosen File
  fileKey: 0,          // bumps with every new file, so a stale answer is ignored
  presets: [],
  token: "",
  focus: null,         // [x, y] fractions, for strategy=focus
  urls: { photo: null, results: [] },
  checkKey: null,      // what the shown check answered (file + target)
  runs: 0,
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
const STRATEGY_HINTS = {
  "": "Smart: the window follows the subject and never cuts a face it can keep whole.",
  smart: "The window follows the subject and never cuts a face it can keep whole.",
  classic: "Like smart, from the classic cues alone (no subject network): the fastest that still looks.",
  centre: "The window stays in the middle.",
  focus: "The window centres on a point: click the photo (or use the arrow keys on it) to set it.",
};
const RULE_NAMES = {
  dimensions: "Size", format: "Format", bytes: "File size", mode: "Colour mode",
  orientation: "Orientation", profile: "Colour profile", faces: "Faces",
};

// --- talking to the server ------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    $("token-field").hidden = false;
  }
  return response;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (ignored) { /* not JSON: describe the status instead */ }
  return { kind: "http", type: String(response.status), message: `${response.status} ${response.statusText}` };
}

function describeError(error) {
  const labels = {
    usage: "The request is not right", input: "This image cannot be used",
    constraint: "The request cannot be met", timeout: "It took too long",
    overload: "The server is busy", unauthorized: "A token is needed",
    internal: "Something went wrong on the server", model: "The server's models are broken",
  };
  return { title: labels[error.kind] || "Error", message: error.message || "" };
}

// --- setting up the controls ------------------------------------------------------------------

function frameParameters(spec) {
  const params = {};
  for (const p of spec.paths["/v1/frame"].post.parameters) params[p.name] = p;
  return params;
}

function fillSelect(select, values, labels, selected) {
  select.replaceChildren();
  for (const value of values) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = labels[value] || value;
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
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = value;
    box.append(input, label);
  }
}

async function loadPresets() {
  const response = await api("/v1/presets");
  if (!response.ok) {
    const error = describeError(await errorOf(response));
    setStatus(`${error.title}: ${error.message}`);
    return false;
  }
  state.presets = await response.json();
  const select = $("target");
  const previous = select.value;
  select.replaceChildren();
  const group = document.createElement("optgroup");
  group.label = "Presets";
  for (const preset of state.presets) {
    const option = document.createElement("option");
    option.value = preset.name;
    option.textContent = `${preset.name} · ${preset.provider}`;
    group.append(option);
  }
  const custom = document.createElement("option");
  custom.value = "custom";
  custom.textContent = "Custom size (WxH)";
  select.append(group, custom);
  select.value = previous && [...select.options].some((o) => o.value === previous) ? previous :
    (state.presets.some((p) => p.name === "sora-2") ? "sora-2" : state.presets[0].name);
  updateHints();
  return true;
}

async function init() {
  const spec = await (await fetch("/openapi.json")).json();
  const params = frameParameters(spec);
  buildFit(params.fit.schema.enum, params.fit.schema.default);
  fillSelect($("faces"), params.faces.schema.enum, {}, params.faces.schema.default);
  fillSelect($("strategy"), ["", ...params.strategy.schema.enum], { "": "smart (default)" }, "");
  await loadPresets();
  wire();
  updateHints();
}

function currentPreset() {
  return state.presets.find((p) => p.name === $("target").value) || null;
}

function updateHints() {
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

function selectedFit() {
  const checked = document.querySelector('input[name="fit"]:checked');
  return checked ? checked.value : "cover";
}

// The target as the API wants it: one spec for the check, every size for framing.
function currentTarget() {
  const preset = currentPreset();
  if (preset) {
    return { check: preset.name, frame: preset.sizes.map((s) => `${preset.name}:${s}`), name: preset.name };
  }
  const size = $("custom").value.trim().toLowerCase().replace(/\s+/g, "").replace("×", "x");
  return { check: size, frame: [size], name: size };
}

// --- choosing a file --------------------------------------------------------------------------

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  state.fileKey += 1;
  state.focus = null;
  state.checkKey = null;
  $("file-name").textContent = `${file.name} · ${formatBytes(file.size)}`;
  $("drop").classList.add("has-file");
  $("drop").querySelector("strong").textContent = "Choose another image";
  $("run").disabled = false;
  if (state.urls.photo) URL.revokeObjectURL(state.urls.photo);
  state.urls.photo = URL.createObjectURL(file);
  $("photo-img").src = state.urls.photo;
  $("boxes").replaceChildren();
  run();
}

function wire() {
  $("file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    document.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("dragging"); });
  }
  for (const name of ["dragleave", "dragend"]) {
    document.addEventListener(name, (e) => { if (!e.relatedTarget) drop.classList.remove("dragging"); });
  }
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("dragging");
    if (e.dataTransfer && e.dataTransfer.files.length) chooseFile(e.dataTransfer.files[0]);
  });
  $("settings").addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("target").addEventListener("change", () => { updateHints(); run(); });
  $("custom").addEventListener("change", () => run());
  $("faces").addEventListener("change", () => { updateHints(); run({ recheck: false }); });
  $("strategy").addEventListener("change", () => { updateHints(); run({ recheck: false }); });
  $("fit").addEventListener("change", () => { updateHints(); run({ recheck: false }); });
  $("token").addEventListener("change", async (e) => {
    state.token = e.target.value.trim();
    if (await loadPresets()) run();
  });
  const frame = $("photo-frame");
  frame.addEventListener("click", (e) => {
    if (!frame.classList.contains("focusing")) return;
    const rect = $("photo-img").getBoundingClientRect();
    setFocus((e.clientX - rect.left) / rect.width, (e.clientY - rect.top) / rect.height);
  });
  frame.addEventListener("keydown", (e) => {
    if (!frame.classList.contains("focusing")) return;
    const step = 0.05;
    const [x, y] = state.focus || [0.5, 0.5];
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) {
      e.preventDefault();
      setFocus(x + moves[e.key][0], y + moves[e.key][1], false);
    } else if (e.key === "Enter") {
      e.preventDefault();
      run({ recheck: false });
    }
  });
}

function setFocus(x, y, go = true) {
  const clamp = (v) => Math.min(1, Math.max(0, v));
  state.focus = [clamp(x), clamp(y)];
  const dot = $("focus-dot");
  dot.style.left = `${state.focus[0] * 100}%`;
  dot.style.top = `${state.focus[1] * 100}%`;
  dot.hidden = false;
  if (go) run({ recheck: false });
}

// --- running ----------------------------------------------------------------------------------

function query(sizes, extra = {}) {
  const q = new URLSearchParams({ size: sizes.join(",") });
  q.set("fit", selectedFit());
  q.set("faces", $("faces").value);
  const strategy = $("strategy").value;
  if (selectedFit() === "cover" && strategy) {
    q.set("strategy", strategy);
    if (strategy === "focus") q.set("focus", (state.focus || [0.5, 0.5]).map((v) => v.toFixed(3)).join(","));
  }
  if (selectedFit() === "pad") q.set("background", "blur");
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q.toString();
}

function post(path) {
  return api(path, { method: "POST", body: state.file, headers: { "Content-Type": "application/octet-stream" } });
}

async function run({ recheck = true } = {}) {
  if (!state.file) return;
  const target = currentTarget();
  const runId = ++state.runs;
  const fileKey = state.fileKey;
  const stale = () => runId !== state.runs || fileKey !== state.fileKey;
  const checkKey = `${fileKey}|${target.check}`;
  const needCheck = recheck || state.checkKey !== checkKey;
  $("welcome").hidden = true;
  setBusy(true, needCheck ? "Checking and framing…" : "Framing…");
  const jobs = [
    needCheck ? post(`/v1/check?size=${encodeURIComponent(target.check)}`) : null,
    post(`/v1/frame?${query(target.frame)}`).then((r) => r),
    post(`/v1/explain?${query(target.frame, { max_side: "1200" })}`),
  ];
  const [checked, framed, explained] = await Promise.allSettled(jobs.map((j) => j || Promise.resolve(null)));
  if (stale()) return;
  try {
    if (needCheck) await showCheck(checked, checkKey);
    await showFrames(framed, target);
    await showExplain(explained, target);
  } finally {
    if (!stale()) setBusy(false, "");
  }
  // On a phone the settings fill the first screen: bring the answer into view once per file.
  if (!stale() && state.scrolledFor !== fileKey && window.matchMedia("(max-width: 900px)").matches) {
    state.scrolledFor = fileKey;
    $("check-card").scrollIntoView({ block: "start" });
  }
}

function setBusy(busy, message) {
  document.body.classList.toggle("busy", busy);
  $("run").disabled = busy || !state.file;
  $("run").textContent = busy ? "Working…" : "Check and frame";
  setStatus(message);
}

function setStatus(message) {
  $("status").textContent = message;
}

function showError(container, outcome, error) {
  const { title, message } = describeError(error || { kind: "internal", message: String(outcome.reason) });
  const box = document.createElement(container.tagName === "OL" ? "li" : "div");
  box.className = "inline-error";
  const strong = document.createElement("strong");
  strong.textContent = title;
  const text = document.createElement("span");
  text.textContent = message;
  box.append(strong, text);
  container.replaceChildren(box);
}

async function answerOf(outcome) {
  if (outcome.status === "rejected") {
    return { error: { kind: "internal", message: `the server could not be reached (${outcome.reason})` } };
  }
  const response = outcome.value;
  if (!response.ok) return { error: await errorOf(response) };
  return { response };
}

// --- the check ---------------------------------------------------------------------------------

async function showCheck(outcome, checkKey) {
  const card = $("check-card");
  card.hidden = false;
  const { response, error } = await answerOf(outcome);
  const verdict = $("verdict");
  if (error) {
    verdict.className = "verdict fail";
    verdict.textContent = "Cannot check";
    showError($("rules"), outcome, error);
    $("boxes").replaceChildren();
    $("photo-caption").textContent = "";
    state.checkKey = null;
    return;
  }
  const report = await response.json();
  state.checkKey = checkKey;
  const failed = report.rules.filter((r) => r.status === "fail").length;
  verdict.className = "verdict " + (report.ok ? "pass" : "fail");
  verdict.textContent = report.ok ? `Passes ${report.target}` :
    `${failed} of ${report.rules.length} rules fail for ${report.target}`;
  const list = $("rules");
  list.replaceChildren();
  for (const rule of report.rules) {
    const item = document.createElement("li");
    item.className = "rule " + rule.status;
    item.dataset.rule = rule.rule;
    item.dataset.status = rule.status;
    const mark = document.createElement("span");
    mark.className = "mark";
    mark.setAttribute("aria-label", rule.status);
    const name = document.createElement("span");
    name.className = "rule-name";
    name.textContent = RULE_NAMES[rule.rule] || rule.rule;
    const text = document.createElement("span");
    text.className = "rule-text";
    text.textContent = rule.message || passText(rule, report);
    item.append(mark, name, text);
    list.append(item);
  }
  for (const warning of report.warnings) {
    const item = document.createElement("li");
    item.className = "rule warning";
    const mark = document.createElement("span");
    mark.className = "mark";
    mark.setAttribute("aria-label", "warning");
    const text = document.createElement("span");
    text.className = "rule-text";
    text.textContent = warning;
    item.append(mark, document.createElement("span"), text);
    list.append(item);
  }
  drawFaces(report.faces);
}

function passText(rule, report) {
  switch (rule.rule) {
    case "dimensions": return `${report.size[0]}x${report.size[1]}, as required`;
    case "format": return `${report.format}, accepted`;
    case "bytes": return report.bytes === null ? "within the limit" : `${formatBytes(report.bytes)}, within the limit`;
    case "mode": return `${report.mode}, no transparency`;
    case "orientation": return "upright, nothing pending";
    case "profile": return "sRGB or none";
    case "faces":
      if (rule.status === "skipped") return "not looked for";
      if (!report.faces.length) return "no identifiable face";
      return `${report.faces.length} face(s) found; this target allows faces`;
    default: return "passes";
  }
}

function drawFaces(faces) {
  const img = $("photo-img");
  const place = () => {
    const boxes = $("boxes");
    boxes.replaceChildren();
    const w = img.naturalWidth, h = img.naturalHeight;
    if (!w || !h) return;
    for (const face of faces) {
      const [x0, y0, x1, y1] = face.box;
      const box = document.createElement("div");
      box.className = "face-box";
      Object.assign(box.style, {
        left: `${(x0 / w) * 100}%`, top: `${(y0 / h) * 100}%`,
        width: `${((x1 - x0) / w) * 100}%`, height: `${((y1 - y0) / h) * 100}%`,
      });
      const label = document.createElement("span");
      label.textContent = `face ${Math.round(face.score * 100)}%`;
      box.append(label);
      boxes.append(box);
    }
  };
  $("photo-caption").textContent = faces.length ?
    `${faces.length} identifiable face${faces.length > 1 ? "s" : ""} outlined` : "No identifiable face found";
  if (img.complete && img.naturalWidth) place(); else img.onload = place;
  img.onerror = () => {
    $("photo-caption").textContent = "This browser cannot show this format; the overlay below shows the faces.";
  };
}

// --- the framed results ----------------------------------------------------------------------

function fromBase64(text, type) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type });
}

function stem() {
  const name = state.file ? state.file.name : "image";
  return (name.replace(/\.[^.]+$/, "").replace(/[^A-Za-z0-9._-]+/g, "_") || "image").slice(0, 64);
}

async function showFrames(outcome, target) {
  const card = $("frame-card");
  card.hidden = false;
  for (const url of state.urls.results) URL.revokeObjectURL(url);
  state.urls.results = [];
  const grid = $("frames");
  const { response, error } = await answerOf(outcome);
  if (error) {
    $("frame-summary").textContent = "";
    showError(grid, outcome, error);
    if (error.type === "FacesFoundError") offerRedaction(grid);
    return;
  }
  const { results } = await response.json();
  $("frame-summary").textContent = `${results.length} size${results.length > 1 ? "s" : ""} of ${target.name}`;
  grid.replaceChildren();
  const template = $("frame-template");
  for (const result of results) {
    const report = result.report;
    const blob = fromBase64(result.data, result.media_type);
    const url = URL.createObjectURL(blob);
    state.urls.results.push(url);
    const node = template.content.firstElementChild.cloneNode(true);
    const [w, h] = report.output_size;
    node.dataset.size = `${w}x${h}`;
    const img = node.querySelector("img");
    img.src = url;
    img.alt = `The image framed to ${w}x${h}`;
    node.querySelector(".frame-size").textContent = `${w} × ${h}`;
    const output = report.output;
    const quality = output.quality ? ` · quality ${output.quality}` : "";
    node.querySelector(".frame-facts").textContent = `${output.format.toUpperCase()} · ${formatBytes(output.bytes)}${quality}`;
    const how = report.strategy ? `${report.fit}, ${report.strategy}` : report.fit;
    const confidence = report.confidence === null ? "" : ` (confidence ${report.confidence.toFixed(2)})`;
    node.querySelector(".frame-reason").textContent = `${how}: ${report.reason}${confidence}`;
    const warnings = node.querySelector(".frame-warnings");
    for (const warning of report.warnings) {
      const item = document.createElement("li");
      item.textContent = warning;
      warnings.append(item);
    }
    const link = node.querySelector("a");
    const ext = output.format === "jpeg" ? "jpg" : output.format;
    link.href = url;
    link.download = `${stem()}-${report.target.replace(/:/g, "_")}.${ext}`;
    link.textContent = `Download ${w}x${h}`;
    link.setAttribute("aria-label", `Download the ${w} by ${h} ${output.format.toUpperCase()}`);
    grid.append(node);
    checkResult(blob, report.target, node.querySelector(".frame-check"));
  }
}

// A target that refuses faces refused the result: offer the policies that make one it accepts.
function offerRedaction(grid) {
  const box = grid.querySelector(".inline-error");
  const choices = document.createElement("div");
  choices.className = "fix-choices";
  for (const [policy, label] of [["blur", "Blur the faces"], ["avoid", "Keep faces out of the window"]]) {
    if (![...$("faces").options].some((o) => o.value === policy)) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button secondary";
    button.textContent = label;
    button.addEventListener("click", () => {
      $("faces").value = policy;
      updateHints();
      run({ recheck: false });
    });
    choices.append(button);
  }
  box.append(choices);
}

// Each result is checked against its own target, as the provider will check it.
async function checkResult(blob, target, badge) {
  badge.className = "frame-check pending";
  badge.textContent = "Checking the result…";
  const response = await api(`/v1/check?size=${encodeURIComponent(target)}`, {
    method: "POST", body: blob, headers: { "Content-Type": "application/octet-stream" } });
  if (!response.ok) {
    const { message } = describeError(await errorOf(response));
    badge.className = "frame-check fail";
    badge.textContent = `Could not check: ${message}`;
    return;
  }
  const report = await response.json();
  badge.dataset.ok = String(report.ok);
  if (report.ok) {
    badge.className = "frame-check pass";
    badge.textContent = `Passes ${report.target}`;
  } else {
    badge.className = "frame-check fail";
    badge.textContent = `Fails: ${report.violations.map((v) => RULE_NAMES[v.rule] || v.rule).join(", ")}`;
    badge.title = report.violations.map((v) => v.message).join("\n");
  }
}

// --- the explain overlay ------------------------------------------------------------------------

async function showExplain(outcome, target) {
  const card = $("explain-card");
  const { response, error } = await answerOf(outcome);
  if (error) {
    card.hidden = true;
    return;
  }
  card.hidden = false;
  const plans = JSON.parse(response.headers.get("smartframe-plans") || "[]");
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  state.urls.results.push(url);
  $("overlay").src = url;
  const link = $("explain-download");
  link.href = url;
  link.download = `${stem()}-${target.name.replace(/:/g, "_")}-explain.png`;
  $("explain-reasons").textContent = plans.map((p) => {
    const confidence = p.confidence === null ? "" : `, confidence ${p.confidence.toFixed(2)}`;
    return `${p.output_size[0]}x${p.output_size[1]}: ${p.strategy || p.fit}${confidence}, ${p.reason}`;
  }).join(" · ");
}

// --- small things ------------------------------------------------------------------------------

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

document.addEventListener("DOMContentLoaded", () => {
  init().catch((error) => setStatus(`The page could not start: ${error}`));
});
