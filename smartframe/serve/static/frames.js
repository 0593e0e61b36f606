// The framed results: one card per size, each with its image, its facts, why the window is
// where it is (the plan's reason, as the server reports it), its warnings, a download link,
// and the result checked again against its own target, as the provider will check it.

import * as api from "./api.js";
import { RULE_NAMES } from "./check.js";
import { $, make, showError } from "./dom.js";
import { formatBytes, reasonText, stem } from "./format.js";

let urls = [];

function clear() {
  for (const url of urls) URL.revokeObjectURL(url);
  urls = [];
  $("frame-card").hidden = false;
}

// The fixes a refusal for faces can offer: the policies that make a result the target accepts.
const FIXES = [["blur", "Blur the faces"], ["avoid", "Keep faces out of the window"]];

/**
 * The card, saying framing failed. For a refusal because of faces, offer the policies among
 * `policies` that fix it; `choose(policy)` is called with the one clicked.
 */
export function showFramesError(thrown, { policies = [], choose = () => {} } = {}) {
  clear();
  $("frame-summary").textContent = "";
  const box = showError($("frames"), thrown);
  if (!(thrown instanceof api.ApiError) || thrown.error.type !== "FacesFoundError") return;
  const choices = make("div", "fix-choices");
  for (const [policy, label] of FIXES) {
    if (!policies.includes(policy)) continue;
    const button = make("button", "button secondary", label);
    button.type = "button";
    button.dataset.policy = policy;
    button.addEventListener("click", () => choose(policy));
    choices.append(button);
  }
  box.append(choices);
}

/** The card for the results of /v1/frame (`results`: [{report, blob}]) of `file` to `target`. */
export function showFrames(results, target, file) {
  clear();
  $("frame-summary").textContent = `${results.length} size${results.length > 1 ? "s" : ""} of ${target.name}`;
  const grid = $("frames");
  grid.replaceChildren();
  const template = $("frame-template");
  for (const { report, blob } of results) {
    const url = URL.createObjectURL(blob);
    urls.push(url);
    const node = template.content.firstElementChild.cloneNode(true);
    const [w, h] = report.output_size;
    node.dataset.size = `${w}x${h}`;
    const img = node.querySelector("img");
    // The intrinsic size, so the box keeps the image's aspect before it has loaded.
    Object.assign(img, { width: w, height: h, src: url, alt: `The image framed to ${w}x${h}` });
    node.querySelector(".frame-size").textContent = `${w} × ${h}`;
    const output = report.output;
    const quality = output.quality ? ` · quality ${output.quality}` : "";
    node.querySelector(".frame-facts").textContent = `${output.format.toUpperCase()} · ${formatBytes(output.bytes)}${quality}`;
    node.querySelector(".frame-reason").textContent = reasonText(report);
    const warnings = node.querySelector(".frame-warnings");
    for (const warning of report.warnings) warnings.append(make("li", "", warning));
    const link = node.querySelector("a");
    const ext = output.format === "jpeg" ? "jpg" : output.format;
    link.href = url;
    link.download = `${stem(file && file.name)}-${report.target.replace(/:/g, "_")}.${ext}`;
    link.textContent = `Download ${w}x${h}`;
    link.setAttribute("aria-label", `Download the ${w} by ${h} ${output.format.toUpperCase()}`);
    grid.append(node);
    checkResult(blob, report.target, node.querySelector(".frame-check"));
  }
}

async function checkResult(blob, target, badge) {
  badge.className = "frame-check pending";
  badge.textContent = "Checking the result…";
  let report;
  try {
    report = await api.check(target, blob);
  } catch (thrown) {
    badge.className = "frame-check fail";
    badge.textContent = `Could not check: ${api.describeError(thrown).message}`;
    return;
  }
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
