// Opening and closing a conversation, reading its history a page at a time, muting it, and
// telling the server what was seen (delivered when listed, read when open in a visible tab).

import { $, api, client, conversations, current, histories, learnPeople, me, muted, notLive,
  presence, root, setCurrent } from "./chat_state.js";
import { State } from "./protocol.js";
import { setComposerMode } from "./chat_composer.js";
import { renderHeader, renderList } from "./chat_list.js";
import { beginHistoryRead, endHistoryRead, keepPage, renderMessages, takeHistory } from "./chat_messages.js";
import { renderTyping } from "./chat_typing.js";

const PAGE = 50;
let historyFailed = null;        // given at start: the connection's readAgainOnReconnect

export async function openDirect(userId, how = {}) {
  try {
    const answer = await client.command("open_direct", { user_id: userId });
    conversations.set(answer.conversation.id, answer.conversation);
    await learnPeople([userId]);
    renderList();
    await openConversation(answer.conversation.id, how);
  } catch (error) {
    $("chat-status").textContent = `Cannot open that chat: ${error.message}`;
  }
}

/** Open a conversation. `push`: a history entry of its own, so Back (a phone's back gesture
 *  above all, where the list is hidden) returns to the list rather than leaving the page;
 *  `focus`: "composer" or "title", where focus goes once it is shown (it was on the button
 *  that opened it). */
export async function openConversation(id, { push = false, focus = null } = {}) {
  const wasOpen = current;
  setCurrent(id);
  const url = new URL(location.href);
  url.search = `?c=${encodeURIComponent(id)}`;
  url.hash = "";
  if (push && wasOpen !== id) {
    // Back from a conversation goes to the list, not to the conversation open before it.
    if (history.state?.conversation) history.replaceState({ conversation: id }, "", url);
    else history.pushState({ conversation: id }, "", url);
  } else {
    // An entry that names a conversation names this one from now on: a reload or Forward
    // reads it (openFromAddress, popstate).
    history.replaceState(history.state?.conversation ? { conversation: id } : history.state, "", url);
  }
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
      historyFailed();
      return;
    }
  }
  renderMessages({ toBottom: true });
  renderTyping();
  if (focus) $(focus === "title" ? "conversation-title" : "message-text").focus();
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
  // The list shown was read over HTTP (no socket yet): its conversations are read so too.
  const viaHttp = notLive && client.state !== State.CONNECTED;
  // Changes to its messages heard until the answer is in go over it (`takeHistory`).
  const read = beginHistoryRead(id);
  let answer;
  try {
    answer = viaHttp ? await api("GET",
      `/api/v1/conversations/${encodeURIComponent(id)}/messages?${new URLSearchParams(
        before != null ? { limit: PAGE, before } : { limit: PAGE })}`) :
      await client.command("history", fields);
  } finally {
    endHistoryRead(id, read);
  }
  // Everything was read again meanwhile (live now, or a reload): that reading replaces this
  // older snapshot, which must neither overwrite its messages nor stand in for its read.
  if (read.stale) return;
  const kept = keepPage(histories.get(id), answer.messages, answer.messages.length < PAGE);
  takeHistory(id, read, kept);
  histories.set(id, kept);
  await learnPeople(answer.messages.map((m) => m.sender_id));
}

function showList() {
  setCurrent(null);
  root.classList.remove("has-open");
  $("conversation").hidden = true;
  $("pick").hidden = false;
  renderList();
}

/** Back to the list (the page's Back button, leaving a group, being removed from one). When
 *  the conversation has its own history entry, the browser goes back over it too, so no
 *  second /chat entry is left for the next Back to land on. */
export function closeConversation() {
  if (history.state?.conversation) history.back();
  else history.replaceState(null, "", "/chat");
  showList();
}

/** A conversation opened from the address (?c=, or #id as older links have it) gets the
 *  list as the entry before it, so Back shows the list as after a click. A reload, or Back
 *  into the page, finds its entry already there (the state survives): it is opened in place,
 *  not pushed again over the list entry and whatever lay ahead. */
export function openFromAddress(id) {
  if (history.state?.conversation === id) return openConversation(id);
  history.replaceState(null, "", "/chat");
  return openConversation(id, { push: true });
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

/** `historyFailed()` is called when an opened conversation's history could not be read (the
 *  page gives the connection's readAgainOnReconnect, chat_connection.js, which imports this
 *  module). */
export function setUpConversations({ historyFailed: failed }) {
  historyFailed = failed;
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
  window.addEventListener("popstate", (event) => {
    const id = event.state?.conversation;
    if (id && conversations.has(id)) openConversation(id);
    else if (current) showList();
  });
  document.addEventListener("visibilitychange", () => { if (current) markSeen(current); });
}
