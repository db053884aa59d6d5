// The local workspace page: sidebar, channel, thread, composer, modals, member switcher, clock and rate limit.
import { el, renderBlocks } from "./blocks.js";
import { toast } from "./dialogs.js";
import { renderMrkdwn } from "./mrkdwn.js";
import { fillList } from "./messages.js";
import { renderModal } from "./modal.js";
import { setupComposer } from "./composer.js";

const params = new URLSearchParams(location.search);
const S = {
  user: params.get("as") || localStorage.getItem("warroom.user") || "U0REQUEST",
  channel: null,
  wanted: params.get("channel") || "releases",
  thread: null,
  members: {},
  channels: [],
  usergroups: [],
  commands: [],
  unread: new Set(),
  viewKey: "",
  home: false,
};
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    toast("The local workspace is not reachable.", "error");
    throw e;
  }
  const data = await response.json().catch(() => ({ ok: false, error: response.statusText }));
  if (!response.ok || data.ok === false) {
    toast(data.error || `HTTP ${response.status}`, "error");
    throw new Error(data.error);
  }
  if (data.warning) toast(data.warning, "error");
  return data;
}

function ctx() {
  return {
    members: S.members, channels: S.channels, usergroups: S.usergroups,
    onChannel: (id) => openChannel(id),
    onAction: (msg, element, block) => api("/ui/click", {
      user: S.user, channel: msg.channel, ts: msg.ts, action_id: element.action_id, value: element.value ?? null,
      ...(element.selected ? { selected: element.selected, block_id: (block && block.block_id) || null } : {}),
    }),
  };
}

function currentChannel() {
  return S.channels.find((c) => c.id === S.channel);
}

// -- sidebar and header ----------------------------------------------------------------------------
function renderSidebar() {
  const channels = $("channel-list");
  const dms = $("dm-list");
  channels.replaceChildren();
  dms.replaceChildren();
  for (const c of S.channels) {
    const item = el("button", "side-item");
    item.type = "button";
    item.dataset.channel = c.id;
    item.dataset.name = c.name;
    item.appendChild(el("span", "side-prefix", c.is_im ? "\u25cf" : c.is_private ? "\ud83d\udd12" : "#"));
    item.appendChild(el("span", "side-name", c.name));
    if (c.is_im) item.appendChild(el("span", "app-badge", "APP"));
    if (c.id === S.channel && !S.home) item.classList.add("active");
    if (S.unread.has(c.id)) item.classList.add("unread");
    if (!c.is_member) item.classList.add("not-member");
    item.addEventListener("click", () => openChannel(c.id));
    (c.is_im ? dms : channels).appendChild(item);
  }
  if (!dms.children.length) dms.appendChild(el("div", "side-empty", "The bot has not written to you yet."));
  $("home-item").classList.toggle("active", S.home);
}

function renderHeader() {
  if (S.home) {
    $("channel-title").textContent = "warroom \u2014 Home";
    $("channel-topic").replaceChildren();
    $("composer").hidden = true;
    $("join-bar").hidden = true;
    return;
  }
  const c = currentChannel();
  $("channel-title").textContent = c ? (c.is_im ? "warroom" : "#" + c.name) : "";
  $("channel-topic").replaceChildren(renderMrkdwn(c ? c.topic || "" : "", ctx(), "span"));
  const member = !c || c.is_member;
  $("composer").hidden = !member;
  $("join-bar").hidden = member;
  $("join-name").textContent = c ? "#" + c.name : "";
}

function renderMemberSwitcher() {
  const select = $("member-switcher");
  select.replaceChildren();
  for (const m of Object.values(S.members).filter((x) => x.human)) {
    const o = el("option", null, `${m.real_name} \u2014 ${m.role}`);
    o.value = m.id;
    o.selected = m.id === S.user;
    select.appendChild(o);
  }
}

function renderClock(offset) {
  if (offset === null || offset === undefined) return;
  const s = Math.round(offset);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  const parts = [d ? `${d}d` : "", h ? `${h}h` : "", m || (!d && !h) ? `${m}m` : ""].filter(Boolean);
  $("clock-offset").textContent = s ? `+${parts.join(" ")} ahead` : "real time";
}

function renderRatelimit(n) {
  $("ratelimit-status").textContent = n ? `next ${n} Web API call${n === 1 ? "" : "s"} answer 429` : "off";
}

// -- loading -----------------------------------------------------------------------------------------
async function loadState() {
  const data = await api(`/ui/state?user=${encodeURIComponent(S.user)}`);
  S.members = Object.fromEntries(data.members.map((m) => [m.id, m]));
  S.channels = data.channels;
  S.usergroups = data.usergroups;
  S.commands = data.commands;
  if (!S.channel || !currentChannel()) {
    const found = S.channels.find((c) => c.name === S.wanted || c.id === S.wanted) || S.channels[0];
    S.channel = found ? found.id : null;
  }
  renderMemberSwitcher();
  renderSidebar();
  renderHeader();
  renderClock(data.clock_offset);
  renderRatelimit(data.ratelimit);
}

async function loadHome(open = false) {
  const data = open ? await api("/ui/home", { user: S.user }) : await api(`/ui/home?user=${encodeURIComponent(S.user)}`);
  if (!S.home) return;
  const list = $("messages");
  list.replaceChildren();
  const box = el("div", "home-view");
  box.dataset.home = "1";
  if (data.view) box.appendChild(renderBlocks(data.view.blocks, ctx()));
  else box.appendChild(el("div", "side-empty", "The app has not published a Home tab yet."));
  list.appendChild(box);
}

function openHome() {
  S.home = true;
  S.thread = null;
  renderSidebar();
  renderHeader();
  loadThread();
  loadHome(true);
}

async function loadMessages(forceBottom = false) {
  if (S.home) return;
  if (!S.channel) return;
  const channel = S.channel;
  const data = await api(`/ui/messages?user=${encodeURIComponent(S.user)}&channel=${encodeURIComponent(channel)}`);
  if (channel !== S.channel) return;
  fillList($("messages"), data.messages, ctx(), { onOpenThread: (m) => openThread(m.ts), forceBottom });
}

async function loadThread() {
  const pane = $("thread-pane");
  if (!S.thread) {
    pane.hidden = true;
    return;
  }
  pane.hidden = false;
  const q = `user=${encodeURIComponent(S.user)}&channel=${encodeURIComponent(S.channel)}&ts=${encodeURIComponent(S.thread)}`;
  const data = await api(`/ui/thread?${q}`);
  fillList($("thread-messages"), data.messages, ctx(), { inThread: true });
}

async function loadViews() {
  const data = await api(`/ui/views?user=${encodeURIComponent(S.user)}`);
  const top = data.views[data.views.length - 1];
  const key = top ? `${top.id}|${top.hash}|${JSON.stringify(top.errors)}` : "";
  if (key === S.viewKey) return;
  S.viewKey = key;
  const host = $("modal-host");
  host.replaceChildren();
  if (!top) return;
  host.appendChild(renderModal(top, { members: S.members, channels: S.channels, usergroups: S.usergroups }, {
    submit: (values) => api("/ui/submit", { user: S.user, view_id: top.id, values }),
    close: () => api("/ui/close", { user: S.user, view_id: top.id }),
    action: (element) => api("/ui/click", { user: S.user, view_id: top.id, action_id: element.action_id, value: element.value ?? null }),
  }));
}

// Coalesce bursts of change events into one fetch per kind; refetch once more if events arrived meanwhile.
const jobs = {};
function schedule(name, fn) {
  const job = (jobs[name] = jobs[name] || { running: false, again: false });
  if (job.running) {
    job.again = true;
    return;
  }
  job.running = true;
  Promise.resolve().then(fn).catch(() => {}).finally(() => {
    job.running = false;
    if (job.again) {
      job.again = false;
      schedule(name, fn);
    }
  });
}

function openChannel(id) {
  S.home = false;
  S.channel = id;
  S.thread = null;
  S.unread.delete(id);
  const c = currentChannel();
  const url = new URL(location.href);
  url.searchParams.set("channel", c ? c.name : id);
  history.replaceState(null, "", url);
  renderSidebar();
  renderHeader();
  $("messages").replaceChildren();
  schedule("messages", () => loadMessages(true));
  loadThread();
}

function openThread(ts) {
  S.thread = ts;
  loadThread();
}

async function switchMember(user) {
  S.user = user;
  localStorage.setItem("warroom.user", user);
  const url = new URL(location.href);
  url.searchParams.set("as", user);
  history.replaceState(null, "", url);
  S.thread = null;
  S.viewKey = "__";
  await loadState();
  await Promise.all([loadMessages(true), loadThread(), loadViews()]);
  if (S.home) await loadHome(true);
  document.body.dataset.user = S.user;
}

// -- server push -------------------------------------------------------------------------------------
function onEvent(e) {
  if (e.ephemeral_for && e.ephemeral_for !== S.user) return;
  if (e.type.startsWith("message")) {
    if (e.channel === S.channel) {
      schedule("messages", () => loadMessages());
      if (S.thread && (e.thread_ts === S.thread || e.ts === S.thread)) schedule("thread", loadThread);
    } else if (S.channels.some((c) => c.id === e.channel)) {
      S.unread.add(e.channel);
      renderSidebar();
    }
  } else if (e.type.startsWith("channel")) {
    schedule("state", loadState);
  } else if (e.type === "home_published") {
    if (S.home && e.user === S.user) schedule("home", () => loadHome());
  } else if (e.type.startsWith("view")) {
    if (e.user === S.user) schedule("views", loadViews);
  } else if (e.type === "api_call" && e.error === "ratelimited") {
    toast(`${e.method} answered 429 ratelimited; the bot retries after Retry-After.`, "warn", 4000);
    schedule("state", loadState);
  }
}

function connect() {
  const source = new EventSource("/ui/events");
  source.onopen = () => {
    document.body.dataset.live = "1";
    schedule("messages", () => loadMessages());
    schedule("views", loadViews);
  };
  source.onmessage = (m) => onEvent(JSON.parse(m.data));
  source.onerror = () => {
    document.body.dataset.live = "0";
  };
}

// -- controls ----------------------------------------------------------------------------------------
function setupControls() {
  $("member-switcher").addEventListener("change", (e) => switchMember(e.target.value));
  for (const b of document.querySelectorAll("[data-advance]")) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        const data = await api("/sandbox/clock/advance", { seconds: Number(b.dataset.advance) });
        renderClock(data.result && data.result.offset_seconds);
        toast(`Bot clock moved forward ${b.textContent}; due work ran.`, "info", 3000);
      } finally {
        b.disabled = false;
      }
    });
  }
  $("ratelimit-apply").addEventListener("click", async () => {
    const n = Math.max(0, parseInt($("ratelimit-n").value, 10) || 0);
    const data = await api("/sandbox/ratelimit", { n });
    renderRatelimit(data.n);
  });
  $("home-item").addEventListener("click", openHome);
  $("thread-close").addEventListener("click", () => {
    S.thread = null;
    loadThread();
  });
  $("join-button").addEventListener("click", async () => {
    await api("/ui/join", { user: S.user, channel: S.channel });
    await loadState();
  });
  setupComposer($("composer"), {
    commands: () => S.commands,
    send: (text) => (text.startsWith("/")
      ? api("/ui/command", { user: S.user, channel: S.channel, text })
      : api("/ui/post", { user: S.user, channel: S.channel, text })),
  });
  setupComposer($("thread-composer"), {
    commands: () => [],
    send: (text) => api("/ui/post", { user: S.user, channel: S.channel, text, thread_ts: S.thread }),
  });
}

async function main() {
  setupControls();
  try {
    await loadState();
  } catch (e) {
    S.user = "U0REQUEST"; // an unknown ?as= member: start as the requester
    await loadState();
  }
  await Promise.all([loadMessages(true), loadViews()]);
  connect();
  document.body.dataset.user = S.user;
  document.body.dataset.ready = "1";
}

main();
