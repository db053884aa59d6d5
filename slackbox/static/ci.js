// The Deploys panel's "CI checks & alerts" section: report a check, fire or resolve an alert
// (signed deliveries to the bot's hooks, made by slackbox/ci_panel.py).
import { toast } from "./dialogs.js";

const $ = (id) => document.getElementById(id);

async function send(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({ ok: false, error: response.statusText }));
  if (!response.ok || data.ok === false) {
    toast(data.error || `HTTP ${response.status}`, "error");
    return false;
  }
  return true;
}

function setup() {
  $("ci-report").addEventListener("click", async () => {
    const body = { release: $("ci-release").value, check: $("ci-check").value, state: $("ci-state").value, values: $("ci-values").value };
    if (await send("/ui/ci/check", body)) toast(`Check ${body.check} reported ${body.state} for ${body.release}.`, "info", 3000);
  });
  for (const status of ["firing", "resolved"]) {
    $(`ci-alert-${status}`).addEventListener("click", async () => {
      const body = { service: $("ci-service").value, alertname: $("ci-alertname").value, severity: $("ci-severity").value, status };
      if (await send("/ui/ci/alert", body)) toast(`Alert ${body.alertname} ${status} on ${body.service}.`, "info", 3000);
    });
  }
}

setup();
