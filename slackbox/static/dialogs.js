// Confirmation dialogs (a button's `confirm` object) and toasts. textContent only.
import { plain, renderTextObject } from "./mrkdwn.js";

function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

/** Show Slack's confirm dialog; resolves true when the user confirms. */
export function confirmDialog(confirm, ctx) {
  return new Promise((resolve) => {
    const overlay = node("div", "overlay confirm-overlay");
    const box = node("div", "dialog confirm-dialog");
    box.setAttribute("role", "alertdialog");
    box.appendChild(node("h2", "dialog-title", plain(confirm.title) || "Are you sure?"));
    box.appendChild(renderTextObject(confirm.text, ctx || {}, "div"));
    const actions = node("div", "dialog-actions");
    const deny = node("button", "btn", plain(confirm.deny) || "Cancel");
    const ok = node("button", "btn " + (confirm.style === "danger" ? "btn-danger" : "btn-primary"),
      plain(confirm.confirm) || "Yes");
    deny.type = ok.type = "button";
    deny.dataset.role = "deny";
    ok.dataset.role = "confirm";
    const done = (answer) => {
      overlay.remove();
      document.removeEventListener("keydown", onKey);
      resolve(answer);
    };
    const onKey = (e) => {
      if (e.key === "Escape") done(false);
    };
    deny.addEventListener("click", () => done(false));
    ok.addEventListener("click", () => done(true));
    document.addEventListener("keydown", onKey);
    actions.append(deny, ok);
    box.appendChild(actions);
    overlay.appendChild(box);
    document.body.appendChild(overlay);
    ok.focus();
  });
}

/** A short notice in the corner (errors, rate-limit hits). */
export function toast(text, kind = "info", ms = 6000) {
  let area = document.getElementById("toasts");
  if (!area) {
    area = node("div");
    area.id = "toasts";
    document.body.appendChild(area);
  }
  const t = node("div", "toast toast-" + kind, text);
  t.setAttribute("role", kind === "error" ? "alert" : "status");
  area.appendChild(t);
  setTimeout(() => t.remove(), ms);
}
