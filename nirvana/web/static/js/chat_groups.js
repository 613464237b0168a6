// The group dialog: create a group, rename it, add friends, change roles, remove, leave,
// all over the HTTP API; what changes reaches every member's socket as events too.

import { h } from "./chat_dom.js";
import { newClientId } from "./protocol_base.js";

const $ = (id) => document.getElementById(id);

/** Wire the dialog to the page. `chat` gives what it reads and the callbacks it calls:
 *  {me, conversations, friends(), current(), api, nameOf, changed(), openConversation,
 *  closeConversation}. */
export function setUpGroups(chat) {
  const dialog = $("group-dialog");
  // The Idempotency-Key of the group this opening of the dialog creates: Create pressed
  // again after an error (a 503 whose group was stored) answers that group, not a second.
  let createKey = null;

  function candidateBox(f) {
    const id = `pick-${f.id}`;
    return h("li", {}, h("input", { type: "checkbox", id, value: f.id, name: "member" }),
      h("label", { for: id, class: "inline-label", text: f.name }));
  }

  function openGroupDialog(conversation) {
    const editing = conversation != null;
    dialog.dataset.conversation = editing ? conversation.id : "";
    createKey = editing ? null : newClientId();
    $("group-dialog-title").textContent = editing ? "Group settings" : "New group";
    $("group-save").textContent = editing ? "Save" : "Create";
    $("group-name").value = editing ? conversation.name || "" : "";
    $("group-error").hidden = true;
    $("group-leave").hidden = !editing;
    $("group-members-field").hidden = !editing;
    const memberIds = new Set(editing ? conversation.members.map((m) => m.user_id) : []);
    if (editing) renderGroupMembers(conversation);
    const candidates = chat.friends().filter((f) => !memberIds.has(f.id));
    $("group-candidates").replaceChildren(...candidates.map(candidateBox));
    // Nobody to add: say why, and (new group) offer no Create: a group of you alone is
    // allowed by the API, but from here it would only be an empty room.
    const none = candidates.length === 0;
    const note = $("group-no-candidates");
    note.hidden = !none;
    note.replaceChildren(...(!none ? [] : chat.friends().length === 0 ?
      ["You have no friends to add yet. Find people on ", h("a", { href: "/people", text: "People" }),
        " and send them a friend request; a group is made of friends."] :
      ["Every friend of yours is in this group already."]));
    $("group-save").hidden = none && !editing;
    dialog.showModal();
    $("group-name").focus();
  }

  function renderGroupMembers(conversation) {
    const myRole = conversation.members.find((m) => m.user_id === chat.me.id)?.role;
    const manage = (label, fn) => h("button", { type: "button", class: "small secondary", onclick: () => groupAction(fn) }, label);
    $("group-members").replaceChildren(...conversation.members.map((m) => {
      const path = `/api/v1/conversations/${encodeURIComponent(conversation.id)}/members/${m.user_id}`;
      const actions = [];
      if (m.user_id !== chat.me.id && myRole === "owner") {
        if (m.role === "member") actions.push(manage("Make admin", () => chat.api("PUT", `${path}/role`, { role: "admin" })));
        if (m.role === "admin") actions.push(manage("Make member", () => chat.api("PUT", `${path}/role`, { role: "member" })));
        actions.push(manage("Make owner", () => chat.api("PUT", `${path}/role`, { role: "owner" })));
      }
      if (m.user_id !== chat.me.id && (myRole === "owner" || (myRole === "admin" && m.role === "member"))) {
        actions.push(manage("Remove", () => chat.api("DELETE", path)));
      }
      return h("li", { class: "member" }, h("span", { text: `${chat.nameOf(m.user_id)}${m.user_id === chat.me.id ? " (you)" : ""}` }),
        h("span", { class: "role muted", text: m.role }), actions);
    }));
  }

  async function groupAction(fn) {
    try {
      const updated = await fn();
      if (updated?.id) {
        chat.conversations.set(updated.id, updated);
        renderGroupMembers(updated);
        chat.changed();
      }
    } catch (error) {
      $("group-error").textContent = error.message;
      $("group-error").hidden = false;
    }
  }

  $("new-group").addEventListener("click", () => openGroupDialog(null));
  $("manage").addEventListener("click", () => openGroupDialog(chat.conversations.get(chat.current())));
  $("group-cancel").addEventListener("click", () => dialog.close());

  $("group-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = dialog.dataset.conversation;
    const name = $("group-name").value.trim();
    const picked = [...$("group-candidates").querySelectorAll("input:checked")].map((box) => Number(box.value));
    try {
      let conversation;
      if (!id) {
        conversation = await chat.api("POST", "/api/v1/conversations", { kind: "group", name, member_ids: picked },
                                      { "Idempotency-Key": createKey });
      } else {
        const base = `/api/v1/conversations/${encodeURIComponent(id)}`;
        conversation = await chat.api("PATCH", base, { name });
        if (picked.length) conversation = await chat.api("POST", `${base}/members`, { user_ids: picked });
      }
      chat.conversations.set(conversation.id, conversation);
      dialog.close();
      chat.changed();
      await chat.openConversation(conversation.id, { push: true });  // an entry of its own, as from the list
    } catch (error) {
      let said = error.message;
      if (error.code === "idempotency_key_reused") {
        // The first Create stored a group with what the dialog held then: this is another.
        createKey = newClientId();
        said = "A group was already created from this dialog before you changed it; press Create again to make this one too.";
      }
      $("group-error").textContent = said;
      $("group-error").hidden = false;
    }
  });

  $("group-leave").addEventListener("click", async () => {
    const id = dialog.dataset.conversation;
    if (!id || !window.confirm("Leave this group?")) return;
    try {
      await chat.api("DELETE", `/api/v1/conversations/${encodeURIComponent(id)}/members/${chat.me.id}`);
      dialog.close();
      chat.conversations.delete(id);
      if (chat.current() === id) chat.closeConversation();
      chat.changed();
    } catch (error) {
      $("group-error").textContent = error.message;
      $("group-error").hidden = false;
    }
  });
}
