// One message as Slack shows it: author, time, blocks or text, files, thread summary, pins, ephemerals.
import { el, renderAttachments, renderBlocks } from "./blocks.js";
import { renderMrkdwn } from "./mrkdwn.js";

const fileCache = new Map();
const COLORS = ["#e8912d", "#2bac76", "#1d9bd1", "#e01e5a", "#6b4fbb", "#4a154b", "#1264a3"];

function initials(name) {
  return (name || "?").split(/\s+/).map((p) => p[0] || "").join("").slice(0, 2).toUpperCase();
}

function avatar(member, isBot) {
  const a = el("div", "avatar", isBot ? "\ud83d\udea8" : initials(member ? member.real_name : "?"));
  const id = member ? member.id : "?";
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  a.style.background = isBot ? "#611f69" : COLORS[h % COLORS.length];
  return a;
}

export function timeOf(ts) {
  const d = new Date(parseFloat(ts) * 1000);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function filePreview(file, box) {
  const pre = el("pre", "file-preview");
  box.appendChild(pre);
  const show = (text) => {
    pre.textContent = text;
    const list = pre.closest(".message-list");
    if (list && list.dataset.pinned !== "0") list.scrollTop = list.scrollHeight;
  };
  if (fileCache.has(file.id)) return show(fileCache.get(file.id));
  pre.textContent = "Loading…";
  fetch(`/ui/files/${encodeURIComponent(file.id)}`)
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(r.statusText))))
    .then((text) => {
      fileCache.set(file.id, text);
      show(text);
    })
    .catch(() => show("(the file could not be loaded)"));
}

function renderFiles(files) {
  const box = el("div", "files");
  for (const f of files || []) {
    const card = el("div", "file");
    card.dataset.fileId = f.id;
    const head = el("div", "file-head");
    head.appendChild(el("span", "file-icon", "\ud83d\udcc4"));
    const names = el("div", "file-names");
    names.appendChild(el("div", "file-title", f.title || f.name));
    names.appendChild(el("div", "file-meta", `${f.name} · ${(f.filetype || "").toUpperCase()} · ${f.size} bytes`));
    head.appendChild(names);
    const link = el("a", "btn btn-small", "Download");
    link.href = `/sandbox/files/${encodeURIComponent(f.id)}`;
    link.setAttribute("download", f.name || "file");
    head.appendChild(link);
    card.appendChild(head);
    if (["md", "txt", "log", "csv", "markdown"].includes(f.filetype)) filePreview(f, card);
    box.appendChild(card);
  }
  return box;
}

/** Render one message. opts = {inThread, onOpenThread(msg)}; ctx carries members, channels and onAction. */
export function renderMessage(msg, ctx, opts = {}) {
  const member = ctx.members[msg.user];
  const isBot = Boolean(msg.bot_id) || (member && member.is_bot);
  const row = el("div", "msg");
  row.dataset.ts = msg.ts;
  if (msg.subtype === "channel_join" || msg.subtype === "channel_topic") {
    row.classList.add("msg-system");
    const who = member ? member.real_name : msg.user;
    const line = el("span", "system-text", who + " ");
    if (msg.subtype === "channel_join") line.appendChild(document.createTextNode("joined the channel"));
    else line.appendChild(renderMrkdwn(msg.text, ctx, "span"));
    row.appendChild(line);
    row.appendChild(el("span", "time", timeOf(msg.ts)));
    return row;
  }
  if (msg.ephemeral_for) row.classList.add("msg-ephemeral");
  if (msg.pinned) row.classList.add("msg-pinned");
  row.appendChild(avatar(member, isBot));
  const body = el("div", "msg-body");
  if (msg.pinned) body.appendChild(el("div", "pinned-marker", "\ud83d\udccc Pinned by warroom"));
  const meta = el("div", "msg-meta");
  meta.appendChild(el("span", "author", member ? (isBot ? member.name : member.real_name) : msg.user || "unknown"));
  if (isBot) meta.appendChild(el("span", "app-badge", "APP"));
  meta.appendChild(el("span", "time", timeOf(msg.ts)));
  if (msg.edited) meta.appendChild(el("span", "edited", "(edited)"));
  body.appendChild(meta);
  if (msg.ephemeral_for) body.appendChild(el("div", "ephemeral-note", "\ud83d\udc41 Only visible to you"));
  const mctx = { ...ctx, onAction: (element, block) => ctx.onAction(msg, element, block) };
  if (msg.blocks && msg.blocks.length) body.appendChild(renderBlocks(msg.blocks, mctx));
  else if (msg.text) body.appendChild(renderMrkdwn(msg.text, ctx));
  if (msg.attachments && msg.attachments.length) body.appendChild(renderAttachments(msg.attachments, mctx));
  if (msg.files && msg.files.length) body.appendChild(renderFiles(msg.files));
  if (!opts.inThread && msg.reply_count) {
    const link = el("button", "thread-link",
      `${msg.reply_count} ${msg.reply_count === 1 ? "reply" : "replies"}`);
    link.type = "button";
    link.addEventListener("click", () => opts.onOpenThread(msg));
    body.appendChild(link);
  }
  if (!opts.inThread && !msg.ephemeral_for && !msg.reply_count && opts.onOpenThread) {
    const reply = el("button", "hover-action", "Reply in thread");
    reply.type = "button";
    reply.addEventListener("click", () => opts.onOpenThread(msg));
    row.appendChild(reply);
  }
  row.appendChild(body);
  return row;
}

/** Replace a list's content, keeping the view pinned to the bottom when it was there. */
export function fillList(list, messages, ctx, opts) {
  if (!list.dataset.pinned) {
    list.addEventListener("scroll", () => {
      list.dataset.pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 80 ? "1" : "0";
    });
  }
  const atBottom = list.dataset.pinned !== "0";
  const frag = document.createDocumentFragment();
  if (!messages.length) frag.appendChild(el("div", "empty", "No messages yet."));
  for (const m of messages) frag.appendChild(renderMessage(m, ctx, opts));
  list.replaceChildren(frag);
  if (atBottom || opts.forceBottom) {
    list.scrollTop = list.scrollHeight;
    list.dataset.pinned = "1";
  }
}
