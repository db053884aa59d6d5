// Block Kit -> DOM for messages and modals. Text goes through mrkdwn.js (textContent only).
import { plain, renderMrkdwn, renderTextObject } from "./mrkdwn.js";
import { confirmDialog } from "./dialogs.js";

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/** An <img> only for same-origin or data: URLs; anything else becomes a labelled placeholder. */
function image(url, alt, cls) {
  let local = false;
  try {
    const u = new URL(url, location.href);
    local = u.origin === location.origin || u.protocol === "data:";
  } catch (e) {
    local = false;
  }
  if (local) {
    const img = el("img", cls);
    img.src = url;
    img.alt = alt || "";
    return img;
  }
  const box = el("span", cls + " image-placeholder", "\ud83d\uddbc " + (alt || "image"));
  box.title = "External image not loaded in the sandbox: " + url;
  return box;
}

/** The URL of an image given as image_url or as a slack_file (an uploaded file, by id or url). */
function imageSource(item) {
  const file = item.slack_file;
  if (file && file.id) return `/ui/images/${encodeURIComponent(file.id)}`;
  if (file && file.url) {
    const m = /\/sandbox\/files\/([^/?#]+)/.exec(file.url);
    return m ? `/ui/images/${m[1]}` : file.url;
  }
  return item.image_url;
}

/** A Block Kit button; clicking asks for confirmation first when the button says so. */
export function button(element, block, ctx) {
  const b = el("button", "btn", plain(element.text));
  if (element.style === "primary") b.classList.add("btn-primary");
  if (element.style === "danger") b.classList.add("btn-danger");
  b.type = "button";
  b.dataset.actionId = element.action_id || "";
  if (element.accessibility_label) b.setAttribute("aria-label", element.accessibility_label);
  b.addEventListener("click", async () => {
    if (element.url && /^https?:/i.test(element.url)) window.open(element.url, "_blank", "noopener");
    if (element.confirm && !(await confirmDialog(element.confirm, ctx))) return;
    if (!ctx.onAction) return;
    b.disabled = true;
    try {
      await ctx.onAction(element, block);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function unsupported(element) {
  const note = el("span", "unsupported", `[${element.type}]`);
  note.title = "This element type is shown but cannot be used in the sandbox";
  return note;
}

/** Checkboxes in a message: each change sends the element's whole selection, as Slack does. The
 * ticks stay as clicked until the app updates the message (Slack keeps them in the client too). */
function checkboxes(element, block, ctx) {
  const box = el("div", "choice-group message-choices");
  box.dataset.actionId = element.action_id || "";
  const chosen = (element.initial_options || []).map((o) => o.value);
  for (const o of element.options || []) {
    const label = el("label", "choice");
    const input = el("input");
    input.type = "checkbox";
    input.value = o.value;
    input.checked = chosen.includes(o.value);
    input.addEventListener("change", async () => {
      if (!ctx.onAction) return;
      const selected = [...box.querySelectorAll("input:checked")].map((i) => i.value);
      for (const i of box.querySelectorAll("input")) i.disabled = true;
      try {
        await ctx.onAction({ ...element, selected }, block);
      } finally {
        for (const i of box.querySelectorAll("input")) i.disabled = false;
      }
    });
    label.append(input, renderTextObject(o.text, ctx, "span"));
    if (o.description) label.appendChild(renderTextObject(o.description, ctx, "small"));
    box.appendChild(label);
  }
  return box;
}

function elementNode(element, block, ctx) {
  if (element.type === "button") return button(element, block, ctx);
  if (element.type === "checkboxes") return checkboxes(element, block, ctx);
  if (element.type === "image") return image(imageSource(element), element.alt_text, "accessory-image");
  if (element.type === "static_select" || element.type === "overflow") {
    const s = el("select", "inline-select");
    s.disabled = true;
    s.title = "Selects in messages are not supported by the sandbox";
    const first = el("option", null, plain(element.placeholder) || "Select…");
    s.appendChild(first);
    return s;
  }
  return unsupported(element);
}

function richText(block, ctx) {
  const box = el("div", "rich-text");
  const walk = (items, into) => {
    for (const item of items || []) {
      if (item.type === "text") {
        const node = item.style && item.style.code ? el("code", "code", item.text) : el("span", null, item.text);
        if (item.style && item.style.bold) node.style.fontWeight = "700";
        if (item.style && item.style.italic) node.style.fontStyle = "italic";
        into.appendChild(node);
      } else if (item.type === "link") {
        const a = el("a", null, item.text || item.url);
        if (/^https?:/i.test(item.url || "")) a.href = item.url;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        into.appendChild(a);
      } else if (item.type === "user") {
        into.appendChild(renderMrkdwn(`<@${item.user_id}>`, ctx, "span"));
      } else if (item.type === "emoji") {
        into.appendChild(renderMrkdwn(`:${item.name}:`, ctx, "span"));
      } else if (item.elements) {
        const sub = el(item.type === "rich_text_preformatted" ? "pre" : "div");
        walk(item.elements, sub);
        into.appendChild(sub);
      }
    }
  };
  walk(block.elements, box);
  return box;
}

/** Render one non-input block. */
export function renderBlock(block, ctx) {
  const type = block.type;
  const wrap = el("div", `block block-${type}`);
  if (block.block_id) wrap.dataset.blockId = block.block_id;
  if (type === "header") {
    wrap.appendChild(renderTextObject(block.text, ctx, "h3"));
  } else if (type === "section") {
    const main = el("div", "section-main");
    if (block.text) main.appendChild(renderTextObject(block.text, ctx));
    if (block.fields && block.fields.length) {
      const grid = el("div", "fields");
      for (const f of block.fields) grid.appendChild(renderTextObject(f, ctx, "div"));
      main.appendChild(grid);
    }
    wrap.appendChild(main);
    if (block.accessory) {
      const acc = el("div", "accessory");
      acc.appendChild(elementNode(block.accessory, block, ctx));
      wrap.appendChild(acc);
    }
  } else if (type === "context") {
    for (const item of block.elements || []) {
      if (item.type === "image") wrap.appendChild(image(imageSource(item), item.alt_text, "context-image"));
      else wrap.appendChild(renderTextObject(item, ctx, "span"));
    }
  } else if (type === "divider") {
    wrap.appendChild(el("hr"));
  } else if (type === "image") {
    if (block.title) wrap.appendChild(renderTextObject(block.title, ctx, "div"));
    wrap.appendChild(image(imageSource(block), block.alt_text, "block-image"));
  } else if (type === "actions") {
    for (const element of block.elements || []) wrap.appendChild(elementNode(element, block, ctx));
  } else if (type === "rich_text") {
    wrap.appendChild(richText(block, ctx));
  } else if (type === "input") {
    wrap.appendChild(el("div", "unsupported", "[input block: only shown in modals]"));
  } else {
    wrap.appendChild(el("div", "unsupported", `[unsupported block: ${type}]`));
  }
  return wrap;
}

/** Render a list of blocks; `inputRenderer` (modals) handles input blocks. */
export function renderBlocks(blocks, ctx, inputRenderer) {
  const box = el("div", "blocks");
  for (const block of blocks || []) {
    box.appendChild(block.type === "input" && inputRenderer ? inputRenderer(block) : renderBlock(block, ctx));
  }
  return box;
}

/** Legacy attachments: a coloured bar with text, fields and blocks. */
export function renderAttachments(attachments, ctx) {
  const box = el("div", "attachments");
  for (const a of attachments || []) {
    const item = el("div", "attachment");
    if (a.color && /^#?[0-9a-fA-F]{3,6}$/.test(a.color)) item.style.borderLeftColor = a.color[0] === "#" ? a.color : "#" + a.color;
    if (a.title) item.appendChild(el("div", "attachment-title", a.title));
    if (a.pretext) item.appendChild(renderMrkdwn(a.pretext, ctx));
    if (a.text) item.appendChild(renderMrkdwn(a.text, ctx));
    for (const f of a.fields || []) {
      item.appendChild(el("div", "attachment-field-title", f.title || ""));
      item.appendChild(renderMrkdwn(f.value || "", ctx));
    }
    if (a.blocks) item.appendChild(renderBlocks(a.blocks, ctx));
    if (a.footer) item.appendChild(el("div", "attachment-footer", a.footer));
    box.appendChild(item);
  }
  return box;
}
