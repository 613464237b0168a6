// Earlier messages: the "Load earlier messages" button (clicked, or the list scrolled to its
// top), and search, which opens a found message's conversation and pages back to it.

import { h, messagePreview } from "./chat_dom.js";
import { $, client, conversations, current, histories, learnPeople, nameOf } from "./chat_state.js";
import { loadHistory, openConversation } from "./chat_conversations.js";
import { titleOf } from "./chat_list.js";
import { renderMessages } from "./chat_messages.js";

let loadingOlder = false;

export function setUpPaging() {
  $("older").addEventListener("click", async () => {
    const kept = histories.get(current);
    if (!kept || kept.complete || loadingOlder) return;
    loadingOlder = true;
    try {
      await loadOlder(kept);
    } finally {
      loadingOlder = false;
    }
  });

  $("messages").addEventListener("scroll", () => {
    if ($("messages").scrollTop === 0 && !$("older").hidden) $("older").click();
  });

  $("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = $("search-q").value.trim();
    if (!q) return;
    const results = $("search-list");
    try {
      const { messages } = await client.command("search", { q, limit: 20 });
      await learnPeople(messages.map((m) => m.sender_id));
      results.replaceChildren(...(messages.length ? messages.map((m) => h("li", {},
        h("button", { type: "button", class: "search-hit", onclick: () => showFound(m) },
          h("span", { class: "name", text: hitLabel(m) }),
          h("span", { class: "snippet muted", text: messagePreview(m) })))) :
        [h("li", { class: "muted", text: `Nothing found for “${q}”.` })]));
      $("search-heading").hidden = !messages.length;
    } catch (error) {
      results.replaceChildren(h("li", { class: "muted", text: `Search failed: ${error.message}` }));
    }
    $("search-results").hidden = false;
  });

  $("search-close").addEventListener("click", () => { $("search-results").hidden = true; });
}

/** "Bob in Trip" for a group; a direct chat's name is the sender's or yours. */
function hitLabel(message) {
  const conversation = conversations.get(message.conversation_id) || { kind: "group", members: [] };
  const sender = nameOf(message.sender_id);
  return conversation.kind === "group" ? `${sender} in ${titleOf(conversation)}` : sender;
}

async function loadOlder(kept) {
  const list = $("messages");
  const fromBottom = list.scrollHeight - list.scrollTop;
  try {
    await loadHistory(current, Number.isFinite(kept.from) ? kept.from : null);
  } catch (error) {
    $("chat-status").textContent = `Earlier messages could not be loaded: ${error.message}`;
    return;
  }
  renderMessages({ keepFrom: fromBottom });
}

async function showFound(message) {
  await openConversation(message.conversation_id, { push: true });
  const kept = histories.get(message.conversation_id);
  for (let pages = 0; kept && !kept.messages.has(message.seq) && !kept.complete && pages < 20; pages++) {
    await loadHistory(message.conversation_id, kept.from).catch(() => {});
  }
  renderMessages();
  const item = $("messages").querySelector(`li[data-seq="${message.seq}"]`);
  item?.scrollIntoView({ block: "center" });
  item?.focus();
}
