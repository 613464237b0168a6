// The reaction picker on a blog page, on top of its plain form (which works without this
// script): a choice is sent to the API without a reload and the counts follow the answer;
// in the toolbar the arrow keys, Home and End move between kinds (one Tab stop), Enter or
// Space picks. When the API cannot be reached, the form is submitted as without JavaScript.
"use strict";
(function () {
  const form = document.querySelector("[data-reaction-picker]");
  if (!form) return;
  const url = "/api/v1/blog/" + form.dataset.blogId + "/reaction";
  const buttons = Array.from(form.querySelectorAll("button.reaction"));
  const clear = form.querySelector("[data-clear]");

  function show(state) {
    for (const button of buttons) {
      const kind = button.dataset.kind;
      button.setAttribute("aria-pressed", String(state.my_reaction === kind));
      button.querySelector("[data-count]").textContent = String(state.reactions[kind]);
    }
    const hide = state.my_reaction === null;
    if (hide && document.activeElement === clear) rove(buttons[0]);  // keep focus in the bar
    clear.hidden = hide;
  }

  function fallback(kind) {
    const field = document.createElement("input");
    field.type = "hidden";
    field.name = "kind";
    field.value = kind;
    form.appendChild(field);
    form.submit();
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const kind = event.submitter ? event.submitter.value : "";
    try {
      const response = await fetch(url, kind
        ? { method: "PUT", credentials: "same-origin",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ kind: kind }) }
        : { method: "DELETE", credentials: "same-origin" });
      if (!response.ok) throw new Error("status " + response.status);
      show(await response.json());
    } catch (err) {
      fallback(kind);  // e.g. an expired access token: the page route renews the session
    }
  });

  // Roving tabindex: the toolbar is one Tab stop, the arrows move inside it.
  const items = buttons.concat([clear]);
  function focusable() { return items.filter(function (b) { return !b.hidden; }); }
  function rove(target) {
    for (const b of items) b.tabIndex = b === target ? 0 : -1;
    target.focus();
  }
  const start = buttons.find(function (b) { return b.getAttribute("aria-pressed") === "true"; })
    || buttons[0];
  for (const b of items) b.tabIndex = b === start ? 0 : -1;
  form.querySelector("[role=toolbar]").addEventListener("keydown", function (event) {
    const list = focusable();
    const at = list.indexOf(document.activeElement);
    if (at < 0) return;
    let next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = list[(at + 1) % list.length];
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = list[(at - 1 + list.length) % list.length];
    else if (event.key === "Home") next = list[0];
    else if (event.key === "End") next = list[list.length - 1];
    if (next) {
      event.preventDefault();
      rove(next);
    }
  });
})();
