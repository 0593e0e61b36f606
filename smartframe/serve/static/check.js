// The check card: the uploaded photo with its faces outlined, and the target's rules one by one.

import { $, make, showError } from "./dom.js";
import { formatBytes } from "./format.js";

export const RULE_NAMES = {
  dimensions: "Size", format: "Format", bytes: "File size", mode: "Colour mode",
  orientation: "Orientation", profile: "Colour profile", faces: "Faces",
};

let photoUrl = null;

/** Show `file` as the photo, with no face drawn yet. */
export function setPhoto(file) {
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  $("photo-img").src = photoUrl;
  $("boxes").replaceChildren();
  $("photo-caption").textContent = "";
}

/** The card, saying the check could not be made (`thrown`: an ApiError or anything thrown). */
export function showCheckError(thrown) {
  $("check-card").hidden = false;
  const verdict = $("verdict");
  verdict.className = "verdict fail";
  verdict.textContent = "Cannot check";
  showError($("rules"), thrown);
  $("boxes").replaceChildren();
  $("photo-caption").textContent = "";
}

/** The card for a /v1/check report. */
export function showCheck(report) {
  $("check-card").hidden = false;
  const failed = report.rules.filter((r) => r.status === "fail").length;
  const verdict = $("verdict");
  verdict.className = "verdict " + (report.ok ? "pass" : "fail");
  verdict.textContent = report.ok ? `Passes ${report.target}` :
    `${failed} of ${report.rules.length} rules fail for ${report.target}`;
  const list = $("rules");
  list.replaceChildren();
  for (const rule of report.rules) {
    const item = make("li", "rule " + rule.status);
    item.dataset.rule = rule.rule;
    item.dataset.status = rule.status;
    const mark = make("span", "mark");
    mark.setAttribute("aria-label", rule.status);
    item.append(mark, make("span", "rule-name", RULE_NAMES[rule.rule] || rule.rule),
                make("span", "rule-text", rule.message || passText(rule, report)));
    list.append(item);
  }
  for (const warning of report.warnings) {
    const item = make("li", "rule warning");
    const mark = make("span", "mark");
    mark.setAttribute("aria-label", "warning");
    item.append(mark, make("span"), make("span", "rule-text", warning));
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

// Face boxes are in source pixels after orientation: the photo's natural size is that frame.
function drawFaces(faces) {
  const img = $("photo-img");
  const place = () => {
    const boxes = $("boxes");
    boxes.replaceChildren();
    const w = img.naturalWidth, h = img.naturalHeight;
    if (!w || !h) return;
    for (const face of faces) {
      const [x0, y0, x1, y1] = face.box;
      const box = make("div", "face-box");
      Object.assign(box.style, {
        left: `${(x0 / w) * 100}%`, top: `${(y0 / h) * 100}%`,
        width: `${((x1 - x0) / w) * 100}%`, height: `${((y1 - y0) / h) * 100}%`,
      });
      box.append(make("span", "", `face ${Math.round(face.score * 100)}%`));
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
