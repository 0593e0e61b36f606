// The upload page's entry module: native ES modules, no build step, nothing loaded from
// elsewhere. It wires the form to the API and hands each answer to its panel:
//   api.js      the API client (the only module that calls fetch)
//   form.js     the form and its state, and what the choices mean as an API query
//   check.js    the check card       frames.js   the framed results
//   overlay.js  the "why this window" overlay
//   dom.js, format.js   small shared helpers
// Every failure is shown where its answer would have been, never only in the console.

import * as api from "./api.js";
import { setPhoto, showCheck, showCheckError } from "./check.js";
import { $ } from "./dom.js";
import * as form from "./form.js";
import { showFrames, showFramesError } from "./frames.js";
import { hideExplain, showExplain, showExplainError } from "./overlay.js";

const runs = { count: 0, checkKey: null, scrolledFor: null };

function setStatus(message) {
  $("status").textContent = message;
}

function setBusy(busy, message) {
  document.body.classList.toggle("busy", busy);
  $("run").disabled = busy || !form.state.file;
  $("run").textContent = busy ? "Working…" : "Check and frame";
  setStatus(message);
}

async function loadPresets() {
  try {
    form.setPresets(await api.presets());
    return true;
  } catch (thrown) {
    const { title, message } = api.describeError(thrown);
    setStatus(`${title}: ${message}`);
    return false;
  }
}

function chooseFile(file) {
  if (!form.setFile(file)) return;
  runs.checkKey = null;
  setPhoto(file);
  run();
}

// Show one answer with `show`, or its failure with `fail`; a bug in showing is shown too.
function present(outcome, show, fail) {
  try {
    if (outcome.status === "fulfilled") show(outcome.value); else fail(outcome.reason);
  } catch (thrown) {
    fail(thrown);
  }
}

async function run({ recheck = true } = {}) {
  const { file, fileKey } = form.state;
  if (!file) return;
  const target = form.currentTarget();
  const runId = ++runs.count;
  const stale = () => runId !== runs.count || fileKey !== form.state.fileKey;
  const checkKey = `${fileKey}|${target.check}`;
  const needCheck = recheck || runs.checkKey !== checkKey;
  $("welcome").hidden = true;
  setBusy(true, needCheck ? "Checking and framing…" : "Framing…");
  const [checked, framed, explained] = await Promise.allSettled([
    needCheck ? api.check(target.check, file) : null,
    api.frame(form.frameQuery(target.frame), file),
    api.explain(form.frameQuery(target.frame, { max_side: "1200" }), file),
  ]);
  if (stale()) return;
  if (needCheck) {
    runs.checkKey = checked.status === "fulfilled" ? checkKey : null;
    present(checked, showCheck, showCheckError);
  }
  present(framed, (results) => showFrames(results, target, file), (thrown) => showFramesError(thrown, {
    policies: form.facePolicies(),
    choose: (policy) => { form.setFacePolicy(policy); run({ recheck: false }); },
  }));
  // explain takes the same options as frame: when both fail alike, say it once.
  const sameFailure = framed.status === "rejected" && explained.status === "rejected" &&
    api.describeError(framed.reason).message === api.describeError(explained.reason).message;
  if (sameFailure) hideExplain();
  else present(explained, (answer) => showExplain(answer, target, file), showExplainError);
  setBusy(false, "");
  // On a phone the settings fill the first screen: bring the answer into view once per file.
  if (runs.scrolledFor !== fileKey && window.matchMedia("(max-width: 900px)").matches) {
    runs.scrolledFor = fileKey;
    $("check-card").scrollIntoView({ block: "start" });
  }
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
  $("target").addEventListener("change", () => { form.updateHints(); run(); });
  $("custom").addEventListener("change", () => run());
  for (const id of ["faces", "strategy", "fit"]) {
    $(id).addEventListener("change", () => { form.updateHints(); run({ recheck: false }); });
  }
  $("token").addEventListener("change", async (e) => {
    api.setToken(e.target.value.trim());
    if (await loadPresets()) run();
  });
  const frame = $("photo-frame");
  frame.addEventListener("click", (e) => {
    if (!frame.classList.contains("focusing")) return;
    const rect = $("photo-img").getBoundingClientRect();
    form.setFocus((e.clientX - rect.left) / rect.width, (e.clientY - rect.top) / rect.height);
    run({ recheck: false });
  });
  frame.addEventListener("keydown", (e) => {
    if (!frame.classList.contains("focusing")) return;
    const step = 0.05;
    const [x, y] = form.state.focus || [0.5, 0.5];
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) {
      e.preventDefault();
      form.setFocus(x + moves[e.key][0], y + moves[e.key][1]);
    } else if (e.key === "Enter") {
      e.preventDefault();
      run({ recheck: false });
    }
  });
}

async function init() {
  api.whenUnauthorized(() => { $("token-field").hidden = false; });
  form.buildControls(await api.spec());
  await loadPresets();
  wire();
}

// A failure nothing else caught still reaches the user.
window.addEventListener("unhandledrejection", (e) => {
  const { title, message } = api.describeError(e.reason);
  setBusy(false, `${title}: ${message}`);
});
init().catch((thrown) => setStatus(`The page could not start: ${api.describeError(thrown).message}`));
