// The "Deploys" panel: everything the outside world reports. Its first section lists the bot's requests
// to the built-in deployer with buttons to report on each; its second (ci.js) reports CI checks and alerts.
import { toast } from "./dialogs.js";

const $ = (id) => document.getElementById(id);
let timer = null;
let shown = "";

function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

async function report(item, state) {
  const response = await fetch("/ui/deploys/report", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ webhook_id: item.webhook_id, state }),
  });
  const data = await response.json().catch(() => ({ ok: false, error: response.statusText }));
  if (!response.ok || data.ok === false) {
    toast(data.error || `HTTP ${response.status}`, "error");
  } else if (data.warning) {
    toast(data.warning, "error");
  } else {
    toast(`Reported ${state} for deployment ${item.body.deployment_id}.`, "info", 2500);
  }
  await refresh();
}

// The newest request names a release and a service: offer them to the checks & alerts section.
function suggest(items) {
  const newest = items.length ? items[items.length - 1].body.release : null;
  if (!newest) return;
  if (!$("ci-release").value) $("ci-release").value = newest.version;
  if (!$("ci-service").value && newest.service) $("ci-service").value = newest.service;
}

function render(items) {
  const list = $("deploys-list");
  list.replaceChildren();
  if (items === null) {
    list.appendChild(node("div", "deploys-help", "The built-in deployer is off: the policy names your team's own executors."));
    return;
  }
  suggest(items);
  if (!items.length) list.appendChild(node("div", "deploys-help", "No requests yet: promote a release to staging."));
  for (const item of [...items].reverse()) {
    const b = item.body;
    const card = node("div", "deploy");
    card.dataset.deployment = String(b.deployment_id);
    const kind = b.type === "rollback.requested" ? "Roll back" : "Deploy";
    card.appendChild(node("div", "deploy-title", `${kind} ${b.release.version} to ${b.stage}`));
    const last = item.reports.length ? item.reports[item.reports.length - 1] : null;
    const meta = `deployment ${b.deployment_id}` + (b.previous_version ? ` · previous ${b.previous_version}` : "")
      + (last ? ` · reported ${last.state} (HTTP ${last.status})` : " · waiting for your report");
    card.appendChild(node("div", "deploy-meta", meta));
    const signed = item.signed;
    card.appendChild(node("pre", "", `webhook-id: ${signed["webhook-id"]}\nwebhook-timestamp: ${signed["webhook-timestamp"]}\n`
      + `webhook-signature: ${signed["webhook-signature"]}\n\n${signed.body.replace(/"callback_token":"[^"]*"/, '"callback_token":"…"')}`));
    const actions = node("div", "deploy-actions");
    for (const [state, label] of [["in_progress", "In progress"], ["succeeded", "Succeeded"], ["failed", "Failed"]]) {
      const button = node("button", state === "failed" ? "btn btn-small btn-danger" : "btn btn-small", label);
      button.type = "button";
      button.dataset.state = state;
      button.addEventListener("click", () => report(item, state));
      actions.appendChild(button);
    }
    card.appendChild(actions);
    list.appendChild(card);
  }
}

async function refresh() {
  const response = await fetch("/ui/deploys");
  if (!response.ok) { // the team's own executors are used: no built-in deployer
    if (shown !== "off" && !$("deploys-pane").hidden) render(null);
    shown = "off";
    return;
  }
  const data = await response.json();
  $("deploys-count").textContent = String(data.deploys.length);
  const key = JSON.stringify(data.deploys);
  if (key !== shown && !$("deploys-pane").hidden) render(data.deploys);
  shown = key;
}

function setup() {
  const toggle = $("deploys-toggle");
  if (!toggle) return;
  toggle.addEventListener("click", () => {
    $("deploys-pane").hidden = !$("deploys-pane").hidden;
    shown = "";
    refresh();
  });
  $("deploys-close").addEventListener("click", () => { $("deploys-pane").hidden = true; });
  refresh();
  timer = setInterval(refresh, 1000);
}

setup();
export { timer };
