// Modals (views.open/update/push): input blocks, submit with response_action errors, cancel.
import { el, renderBlocks } from "./blocks.js";
import { plain, renderTextObject } from "./mrkdwn.js";

function options(element) {
  const out = [...(element.options || [])];
  for (const g of element.option_groups || []) out.push(...(g.options || []));
  return out;
}

function stateOf(view, block, element) {
  const values = (view.state && view.state.values) || {};
  return (values[block.block_id] || {})[element.action_id];
}

function selectOptions(select, list, chosen, placeholder) {
  if (!select.multiple) {
    const none = el("option", null, placeholder || "Select an option");
    none.value = "";
    select.appendChild(none);
  }
  for (const [value, label] of list) {
    const o = el("option", null, label);
    o.value = value;
    o.selected = chosen.includes(value);
    select.appendChild(o);
  }
}

/** One input element: returns [node, read()] where read() gives the value to submit (null: empty). */
function widget(view, block, element, ctx) {
  const st = stateOf(view, block, element) || {};
  const type = element.type;
  const id = `in-${block.block_id}-${element.action_id}`;
  if (["plain_text_input", "email_text_input", "url_text_input", "number_input"].includes(type)) {
    const multi = type === "plain_text_input" && element.multiline;
    const input = el(multi ? "textarea" : "input", "text-input");
    if (!multi) input.type = { email_text_input: "email", url_text_input: "url", number_input: "number" }[type] || "text";
    if (element.max_length) input.maxLength = element.max_length;
    if (element.placeholder) input.placeholder = plain(element.placeholder);
    input.value = st.value ?? element.initial_value ?? "";
    input.id = id;
    return [input, () => input.value];
  }
  if (["static_select", "multi_static_select", "users_select", "multi_users_select"].includes(type)) {
    const select = el("select", "select-input");
    select.id = id;
    select.multiple = type.startsWith("multi_");
    const users = type.endsWith("users_select");
    const list = users
      ? Object.values(ctx.members).filter((m) => m.human).map((m) => [m.id, `${m.real_name} (@${m.name})`])
      : options(element).map((o) => [o.value, plain(o.text)]);
    let chosen = [];
    if (users) chosen = st.selected_user ? [st.selected_user] : st.selected_users || (element.initial_user ? [element.initial_user] : element.initial_users || []);
    else if (st.selected_option) chosen = [st.selected_option.value];
    else if (st.selected_options) chosen = st.selected_options.map((o) => o.value);
    else if (element.initial_option) chosen = [element.initial_option.value];
    else if (element.initial_options) chosen = element.initial_options.map((o) => o.value);
    selectOptions(select, list, chosen, plain(element.placeholder));
    const read = () => (select.multiple ? [...select.selectedOptions].map((o) => o.value) : select.value || null);
    return [select, read];
  }
  if (type === "checkboxes" || type === "radio_buttons") {
    const box = el("div", "choice-group");
    box.id = id;
    const initial = st.selected_options || (st.selected_option ? [st.selected_option] : null) ||
      element.initial_options || (element.initial_option ? [element.initial_option] : []);
    const chosen = initial.map((o) => o.value);
    for (const o of options(element)) {
      const label = el("label", "choice");
      const input = el("input");
      input.type = type === "checkboxes" ? "checkbox" : "radio";
      input.name = id;
      input.value = o.value;
      input.checked = chosen.includes(o.value);
      label.append(input, renderTextObject(o.text, ctx, "span"));
      if (o.description) label.appendChild(renderTextObject(o.description, ctx, "small"));
      box.appendChild(label);
    }
    const read = () => {
      const on = [...box.querySelectorAll("input:checked")].map((i) => i.value);
      return type === "checkboxes" ? on : on[0] || null;
    };
    return [box, read];
  }
  if (type === "datepicker" || type === "timepicker") {
    const input = el("input", "text-input");
    input.type = type === "datepicker" ? "date" : "time";
    input.id = id;
    input.value = st.selected_date || st.selected_time || element.initial_date || element.initial_time || "";
    return [input, () => input.value || null];
  }
  return [el("div", "unsupported", `[${type}: not supported by the sandbox]`), () => null];
}

function isEmpty(value) {
  return value === null || value === "" || (Array.isArray(value) && value.length === 0);
}

/** Build a modal; handlers = {submit(values), close(), action(element, block)}. */
export function renderModal(view, ctx, handlers) {
  const readers = [];
  const overlay = el("div", "overlay modal-overlay");
  const box = el("div", "dialog modal");
  box.dataset.viewId = view.id;
  box.setAttribute("role", "dialog");
  const head = el("div", "modal-head");
  head.appendChild(el("h2", "dialog-title", plain(view.title)));
  const x = el("button", "icon-btn", "\u00d7");
  x.type = "button";
  x.setAttribute("aria-label", "Close");
  head.appendChild(x);
  box.appendChild(head);
  const errors = view.errors || {};
  const inputCtx = { ...ctx, onAction: (element, block) => handlers.action(element, block) };
  const inputBlock = (block) => {
    const field = el("div", "input-block");
    field.dataset.blockId = block.block_id || "";
    const label = el("label", "input-label", plain(block.label));
    if (block.optional) label.appendChild(el("span", "optional", " (optional)"));
    field.appendChild(label);
    const [node, read] = widget(view, block, block.element || {}, ctx);
    label.htmlFor = node.id || "";
    field.appendChild(node);
    if (block.hint) field.appendChild(renderTextObject(block.hint, ctx, "div")).classList.add("hint");
    const error = el("div", "field-error", errors[block.block_id] || "");
    error.setAttribute("role", "alert");
    field.appendChild(error);
    if (errors[block.block_id]) field.classList.add("has-error");
    const element = block.element || {};
    const clear = () => {
      error.textContent = "";
      field.classList.remove("has-error");
    };
    node.addEventListener("input", clear);
    node.addEventListener("change", clear);
    readers.push({ block, element, read, field, error });
    return field;
  };
  const body = el("div", "modal-body");
  body.appendChild(renderBlocks(view.blocks, inputCtx, inputBlock));
  box.appendChild(body);
  const foot = el("div", "dialog-actions");
  const cancel = el("button", "btn", plain(view.close) || "Cancel");
  cancel.type = "button";
  cancel.dataset.role = "cancel";
  foot.appendChild(cancel);
  let submit = null;
  if (view.submit) {
    submit = el("button", "btn btn-primary", plain(view.submit));
    submit.type = "button";
    submit.dataset.role = "submit";
    foot.appendChild(submit);
  }
  box.appendChild(foot);
  overlay.appendChild(box);
  const close = async () => {
    cancel.disabled = x.disabled = true;
    try {
      await handlers.close();
    } finally {
      cancel.disabled = x.disabled = false;
    }
  };
  cancel.addEventListener("click", close);
  x.addEventListener("click", close);
  if (submit) {
    submit.addEventListener("click", async () => {
      const values = {};
      let missing = false;
      for (const r of readers) {
        const value = r.read();
        r.error.textContent = "";
        r.field.classList.remove("has-error");
        if (isEmpty(value) && !r.block.optional) {
          r.error.textContent = "Please complete this required field.";
          r.field.classList.add("has-error");
          missing = true;
        }
        if (value !== null) values[`${r.block.block_id}.${r.element.action_id}`] = value;
      }
      if (missing) return;
      submit.disabled = true;
      try {
        await handlers.submit(values);
      } finally {
        submit.disabled = false;
      }
    });
  }
  return overlay;
}
