// The message composer: plain messages, and slash commands from the app manifest with usage hints.
import { el } from "./blocks.js";

/** Wire a composer form: opts = {commands(): [{command, description, usage_hint}], send(text): Promise}. */
export function setupComposer(form, opts) {
  const input = form.querySelector("textarea");
  const list = form.querySelector(".suggestions");
  const hint = form.querySelector(".usage-hint");
  let matches = [];
  let selected = 0;

  const hide = () => {
    matches = [];
    if (list) list.hidden = true;
  };

  const complete = (cmd) => {
    input.value = cmd.command + " ";
    hide();
    update();
    input.focus();
  };

  const renderList = () => {
    list.replaceChildren();
    matches.forEach((cmd, i) => {
      const item = el("button", "suggestion" + (i === selected ? " selected" : ""));
      item.type = "button";
      item.dataset.command = cmd.command;
      const line = el("div", "suggestion-line");
      line.appendChild(el("b", null, cmd.command));
      line.appendChild(el("span", "suggestion-usage", " " + cmd.usage_hint));
      item.appendChild(line);
      item.appendChild(el("div", "suggestion-desc", cmd.description));
      item.addEventListener("mousedown", (e) => {
        e.preventDefault();
        complete(cmd);
      });
      list.appendChild(item);
    });
    list.hidden = matches.length === 0;
  };

  function update() {
    const value = input.value;
    const commands = opts.commands();
    if (!list || !commands.length) return;
    const word = /^\/\S*$/.test(value) ? value : null;
    if (word !== null) {
      matches = commands.filter((c) => c.command.startsWith(word.toLowerCase()));
      selected = Math.min(selected, Math.max(0, matches.length - 1));
      renderList();
      hint.hidden = true;
      return;
    }
    hide();
    const typed = /^(\/\S+)\s/.exec(value);
    const cmd = typed && commands.find((c) => c.command === typed[1]);
    hint.hidden = !cmd;
    hint.textContent = cmd ? `${cmd.command} ${cmd.usage_hint}` : "";
  }

  input.addEventListener("input", () => {
    selected = 0;
    update();
  });
  input.addEventListener("blur", () => setTimeout(hide, 150));
  input.addEventListener("keydown", (e) => {
    if (matches.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      selected = (selected + (e.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
      renderList();
    } else if (matches.length && (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey))) {
      const exact = matches.length === 1 && matches[0].command === input.value.trim();
      if (!exact || e.key === "Tab") {
        e.preventDefault();
        complete(matches[selected]);
      }
    } else if (e.key === "Escape") {
      hide();
    }
    if (e.key === "Enter" && !e.shiftKey && !e.defaultPrevented) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.disabled = true;
    try {
      await opts.send(text);
      input.value = "";
      hide();
      if (hint) hint.hidden = true;
    } catch (err) {
      // the toast already explains; keep the text so it can be fixed
    } finally {
      input.disabled = false;
      input.focus();
    }
  });
}
