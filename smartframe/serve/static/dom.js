// Small DOM helpers shared by the panels.

import { describeError } from "./api.js";

export const $ = (id) => document.getElementById(id);

/** A new element with a class and a text. */
export function make(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** Replace what `container` shows with the error (a title and its sentence); returns the box. */
export function showError(container, thrown) {
  const { title, message } = describeError(thrown);
  const box = make(container.tagName === "OL" || container.tagName === "UL" ? "li" : "div", "inline-error");
  box.setAttribute("role", "alert");
  box.append(make("strong", "", title), make("span", "", message));
  container.replaceChildren(box);
  return box;
}
