// Slack mrkdwn -> DOM. Every piece of text goes through textContent / createTextNode: never innerHTML.

const EMOJI = {
  white_check_mark: "\u2705", warning: "\u26a0\ufe0f", rewind: "\u23ea", rotating_light: "\ud83d\udea8",
  large_orange_circle: "\ud83d\udfe0", large_blue_circle: "\ud83d\udd35", white_circle: "\u26aa",
  tada: "\ud83c\udf89", snowflake: "\u2744\ufe0f", scales: "\u2696\ufe0f", pushpin: "\ud83d\udccc",
  no_entry: "\u26d4", mega: "\ud83d\udce3", hourglass_flowing_sand: "\u23f3", busts_in_silhouette: "\ud83d\udc65",
  bell: "\ud83d\udd14", ballot_box_with_check: "\u2611\ufe0f", arrow_right: "\u27a1\ufe0f", alarm_clock: "\u23f0",
  memo: "\ud83d\udcdd", rocket: "\ud83d\ude80", fire: "\ud83d\udd25", x: "\u274c", heavy_check_mark: "\u2714\ufe0f",
  red_circle: "\ud83d\udd34", large_green_circle: "\ud83d\udfe2", large_yellow_circle: "\ud83d\udfe1",
  information_source: "\u2139\ufe0f", eyes: "\ud83d\udc40", clipboard: "\ud83d\udccb", package: "\ud83d\udce6",
  construction: "\ud83d\udea7", checkered_flag: "\ud83c\udfc1", hammer_and_wrench: "\ud83d\udee0\ufe0f",
  link: "\ud83d\udd17", calendar: "\ud83d\udcc5", stopwatch: "\u23f1\ufe0f", thumbsup: "\ud83d\udc4d",
  "+1": "\ud83d\udc4d", release: "\ud83d\ude80", sos: "\ud83c\udd98", siren: "\ud83d\udea8",
};

/** Replace :emoji: codes that we know; unknown ones stay as typed. */
export function emojify(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (all, name) => EMOJI[name] || all);
}

/** Slack escapes only &, < and > in message text; show them as the characters they stand for. */
export function decodeEntities(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function textNode(text, out) {
  const parts = decodeEntities(text).split("\n");
  parts.forEach((part, i) => {
    if (i > 0) out.appendChild(document.createElement("br"));
    if (part) out.appendChild(document.createTextNode(emojify(part)));
  });
}

function span(cls, text) {
  const el = document.createElement("span");
  el.className = cls;
  el.textContent = text;
  return el;
}

function memberName(ctx, id) {
  const m = ctx.members && ctx.members[id];
  return m ? (m.real_name || m.name) : id;
}

/** Render one <...> construct: mentions, channels, groups, specials, links. */
function angle(inner, ctx, out) {
  const bar = inner.indexOf("|");
  const target = bar >= 0 ? inner.slice(0, bar) : inner;
  const label = bar >= 0 ? decodeEntities(inner.slice(bar + 1)) : "";
  if (/^@[UW][A-Z0-9]+$/.test(target)) {
    const el = span("mention", "@" + (label || memberName(ctx, target.slice(1))));
    el.dataset.user = target.slice(1);
    out.appendChild(el);
  } else if (/^#[CGD][A-Z0-9]+$/.test(target)) {
    const id = target.slice(1);
    const ch = (ctx.channels || []).find((c) => c.id === id);
    const el = span("channel-link", "#" + (ch ? ch.name : label || id));
    el.dataset.channel = id;
    if (ctx.onChannel) el.addEventListener("click", () => ctx.onChannel(id));
    out.appendChild(el);
  } else if (target.startsWith("!subteam^")) {
    const id = target.slice(9);
    const group = (ctx.usergroups || []).find((g) => g.id === id);
    out.appendChild(span("mention", label || (group ? "@" + group.handle : "@" + id)));
  } else if (/^!(here|channel|everyone)$/.test(target)) {
    out.appendChild(span("mention", "@" + target.slice(1)));
  } else if (target.startsWith("!")) {
    out.appendChild(document.createTextNode(label || target));
  } else {
    const url = decodeEntities(target);
    if (/^(https?:|mailto:)/i.test(url)) {
      const a = document.createElement("a");
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = label || url;
      out.appendChild(a);
    } else {
      out.appendChild(document.createTextNode(label || url));
    }
  }
}

const INLINE = new RegExp(
  [
    "<([^<>\\n]+)>",                                  // 1 angle
    "`([^`\\n]+)`",                                   // 2 code
    "(?<![\\w*])\\*(?!\\s)([^*\\n]+?)(?<!\\s)\\*(?![\\w*])", // 3 bold
    "(?<![\\w_])_(?!\\s)([^_\\n]+?)(?<!\\s)_(?![\\w_])",      // 4 italic
    "(?<![\\w~])~(?!\\s)([^~\\n]+?)(?<!\\s)~(?![\\w~])",      // 5 strike
  ].join("|"),
  "g",
);

/** Inline mrkdwn (no code blocks or quotes) appended to `out`. */
export function renderInline(text, ctx, out) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) textNode(text.slice(last, m.index), out);
    last = m.index + m[0].length;
    if (m[1] !== undefined) angle(m[1], ctx, out);
    else if (m[2] !== undefined) out.appendChild(span("code", decodeEntities(m[2])));
    else {
      const el = document.createElement(m[3] !== undefined ? "b" : m[4] !== undefined ? "i" : "s");
      renderInline(m[3] ?? m[4] ?? m[5], ctx, el);
      out.appendChild(el);
    }
  }
  if (last < text.length) textNode(text.slice(last), out);
  return out;
}

/** Render a mrkdwn string (code blocks, quotes, inline formatting) into a new element. */
export function renderMrkdwn(text, ctx, tag = "div") {
  const root = document.createElement(tag);
  root.className = "mrkdwn";
  const chunks = String(text ?? "").split(/```/);
  chunks.forEach((chunk, i) => {
    if (i % 2 === 1) {
      const pre = document.createElement("pre");
      pre.textContent = decodeEntities(chunk.replace(/^\n/, ""));
      root.appendChild(pre);
      return;
    }
    let quote = null;
    let para = null;
    const lines = chunk.split("\n");
    lines.forEach((line, j) => {
      const q = /^(&gt;|>)\s?(.*)$/.exec(line);
      if (q) {
        if (!quote) {
          quote = document.createElement("blockquote");
          root.appendChild(quote);
          para = null;
        } else quote.appendChild(document.createElement("br"));
        renderInline(q[2], ctx, quote);
        return;
      }
      quote = null;
      if (!para) {
        para = document.createElement("span");
        root.appendChild(para);
      } else para.appendChild(document.createElement("br"));
      renderInline(line, ctx, para);
      if (j === lines.length - 1 && line === "" && para.lastChild && para.lastChild.nodeName === "BR") {
        para.removeChild(para.lastChild);
      }
    });
  });
  return root;
}

/** Render a text object: plain_text (emoji only) or mrkdwn. */
export function renderTextObject(obj, ctx, tag = "div") {
  if (!obj) return document.createElement(tag);
  if (obj.type === "mrkdwn") return renderMrkdwn(obj.text, ctx, tag);
  const el = document.createElement(tag);
  el.className = "plain";
  el.textContent = obj.emoji === false ? obj.text : emojify(String(obj.text ?? ""));
  return el;
}

/** Plain text of a text object (button labels, options). */
export function plain(obj) {
  if (!obj) return "";
  return obj.emoji === false ? String(obj.text ?? "") : emojify(String(obj.text ?? ""));
}
