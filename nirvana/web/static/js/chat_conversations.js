// Opening and closing a conversation, reading its history a page at a time, muting it, and
// telling the server what was seen (delivered when listed, read when open in a visible tab).

import { $, api, client, conversations, current, histories, learnPeople, me, muted, presence, root,
  setCurrent } from "./chat_state.js";
import { readAgainOnReconnect } from "./chat_connection.js";
import { setComposerMode } from "./chat_composer.js";
import { renderTyping } from "./chat_events.js";
import { renderHeader, renderList } from "./chat_list.js";
import { renderMessages } from "./chat_messages.js";

const PAGE = 50;

export async function openDirect(userId) {
  try {
    const answer = await client.command("open_direct", { user_id: userId });
    conversations.set(answer.conversation.id, answer.conversation);
    await learnPeople([userId]);
    renderList();
    await openConversation(answer.conversation.id);
  } catch (error) {
    $("chat-status").textContent = `Cannot open that chat: ${error.message}`;
  }
}

export async function openConversation(id) {
  setCurrent(id);
  const url = new URL(location.href);
  url.search = `?c=${encodeURIComponent(id)}`;
  history.replaceState(null, "", url);
  root.classList.add("has-open");
  $("conversation").hidden = false;
  $("pick").hidden = true;
  setComposerMode(null);
  renderHeader();
  renderList();
  if (!histories.has(id)) {
    try {
      await loadHistory(id);
    } catch (error) {
      $("chat-status").textContent = `This conversation could not be loaded: ${error.message}`;
      readAgainOnReconnect();
      return;
    }
  }
  renderMessages({ toBottom: true });
  renderTyping();
  const peers = conversations.get(id)?.members.map((m) => m.user_id).filter((u) => u !== me.id) || [];
  client.command("presence_of", { user_ids: peers.slice(0, 500) }).then((answer) => {
    for (const p of answer.presence) presence.set(p.user_id, p);
    renderHeader();
  }, () => {});
  markSeen(id);
}

export async function loadHistory(id, before = null) {
  const fields = { conversation_id: id, limit: PAGE };
  if (before != null) fields.before = before;
  const answer = await client.command("history", fields);
  const kept = histories.get(id) || { messages: new Map(), complete: false };
  for (const m of answer.messages) kept.messages.set(m.seq, m);
  if (answer.messages.length < PAGE) kept.complete = true;
  histories.set(id, kept);
  await learnPeople(answer.messages.map((m) => m.sender_id));
}

export function closeConversation() {
  setCurrent(null);
  root.classList.remove("has-open");
  $("conversation").hidden = true;
  $("pick").hidden = false;
  history.replaceState(null, "", "/chat");
  renderList();
}

export function markSeen(id) {
  const c = conversations.get(id);
  if (!c || !c.last_seq) return;
  const mine = c.members.find((m) => m.user_id === me.id);
  const visible = document.visibilityState === "visible" && id === current;
  if (visible && (mine?.read_seq ?? 0) < c.last_seq) {
    client.command("read", { conversation_id: id, seq: c.last_seq }).then(({ conversation }) => {
      conversations.set(id, conversation);
      renderList();
    }, () => {});
  } else if (!visible && (mine?.delivered_seq ?? 0) < c.last_seq) {
    client.command("delivered", { conversation_id: id, seq: c.last_seq }).catch(() => {});
  }
}

export function setUpConversations() {
  $("mute").addEventListener("click", async () => {
    const id = current;
    const on = !muted.has(id);
    try {
      await api(on ? "PUT" : "DELETE", `/api/v1/conversations/${encodeURIComponent(id)}/mute`);
      if (on) muted.add(id); else muted.delete(id);
      renderList();
      renderHeader();
    } catch (error) {
      $("chat-status").textContent = `Cannot change the mute: ${error.message}`;
    }
  });
  $("back").addEventListener("click", closeConversation);
  document.addEventListener("visibilitychange", () => { if (current) markSeen(current); });
}
