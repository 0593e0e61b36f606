// The "Why this window" card: the explain overlay (importance map, chosen and centre windows,
// faces) and each size's plan, its reason exactly as the server reports it.

import { $, make, showError } from "./dom.js";
import { reasonText, stem } from "./format.js";

let url = null;

/** Hide the card (its failure is the one the framed results already show). */
export function hideExplain() {
  reset();
  $("explain-card").hidden = true;
}

function reset() {
  if (url) URL.revokeObjectURL(url);
  url = null;
  $("explain-card").hidden = false;
  $("explain-error").replaceChildren();
  $("explain-error").hidden = true;
}

/** The card, saying the overlay could not be made. */
export function showExplainError(thrown) {
  reset();
  for (const id of ["overlay", "legend", "explain-download"]) $(id).hidden = true;
  $("explain-reasons").replaceChildren();
  $("explain-error").hidden = false;
  showError($("explain-error"), thrown);
}

/** The card for an explain answer ({plans, blob}) of `file` to `target`. */
export function showExplain({ plans, blob }, target, file) {
  reset();
  url = URL.createObjectURL(blob);
  for (const id of ["overlay", "legend", "explain-download"]) $(id).hidden = false;
  $("overlay").src = url;
  const link = $("explain-download");
  link.href = url;
  link.download = `${stem(file && file.name)}-${target.name.replace(/:/g, "_")}-explain.png`;
  const list = $("explain-reasons");
  list.replaceChildren();
  for (const plan of plans) {
    const item = make("li");
    item.dataset.size = `${plan.output_size[0]}x${plan.output_size[1]}`;
    item.append(make("strong", "", `${plan.output_size[0]} × ${plan.output_size[1]}`),
                make("span", "", reasonText(plan)));
    list.append(item);
  }
}
