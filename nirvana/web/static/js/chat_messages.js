// The open conversation's messages: each with its quote, attachments, reactions, ticks and
// action menu, the sends still pending after them; and what the menu does.

import { h, humanBytes, messagePreview, safeUrl, shortTime } from "./chat_dom.js";
import { $, client, conversations, current, histories, me, nameOf, pending } from "./chat_state.js";

// The quick reactions and their names: a name is its button's accessible name and tooltip,
// readable where the machine has no emoji font and the emoji shows as a box.
const QUICK_REACTIONS = [["👍", "Like"], ["❤️", "Love"], ["😂", "Laugh"], ["😮", "Wow"], ["😢", "Sad"]];
let openMenu = null;             // the seq whose action menu is open: kept open across renders
let writing = null;              // {compose(mode), retry(clientId)}: given at start

/** Wire the list to the composer, which imports this module: the menu's Reply and Edit call
 *  `compose({kind, seq})`, a refused send's "Try again" calls `retry(clientId)`. */
export function setUpMessages({ compose, retry }) {
  writing = { compose, retry };
}

function tickOf(conversation, message) {
  const others = conversation.members.filter((m) => m.user_id !== me.id);
  if (others.length && others.every((m) => m.read_seq >= message.seq)) return ["read", "Read"];
  if (others.length && others.every((m) => m.delivered_seq >= message.seq)) return ["delivered", "Delivered"];
  return ["sent", "Sent"];
}

function messageItem(conversation, message, kept) {
  const mine = message.sender_id === me.id;
  const li = h("li", {
    class: `message${mine ? " mine" : ""}${message.deleted ? " deleted" : ""}`,
    dataset: { seq: message.seq, clientId: message.client_id || "" },
    tabindex: "-1",
  });
  if (!mine && conversation.kind === "group") li.append(h("p", { class: "sender", text: nameOf(message.sender_id) }));
  if (message.reply_to != null) {
    const quoted = kept.messages.get(message.reply_to);
    li.append(h("p", { class: "quote", text: quoted ? `${nameOf(quoted.sender_id)}: ${messagePreview(quoted)}` : "Earlier message" }));
  }
  if (message.deleted) {
    li.append(h("p", { class: "text muted", text: "This message was deleted." }));
  } else if (message.text) {
    li.append(h("p", { class: "text", text: message.text }));
  }
  for (const a of message.attachments || []) {
    const url = safeUrl(a.url);
    if (!url) continue;
    li.append(attachmentItem(a, url));
  }
  const reactions = Object.entries(message.reactions || {});
  if (reactions.length) {
    li.append(h("div", { class: "reactions" }, reactions.map(([emoji, users]) =>
      h("button", { type: "button", class: "reaction small", "aria-pressed": users.includes(me.id) ? "true" : "false",
        "aria-label": `${emoji} ${users.length}, ${users.map(nameOf).join(", ")}`,
        onclick: () => react(message, emoji, !users.includes(me.id)) }, `${emoji} ${users.length}`))));
  }
  const meta = h("p", { class: "meta muted" }, h("time", { datetime: message.created_at, text: shortTime(message.created_at) }));
  if (message.edited_at && !message.deleted) meta.append(" · edited");
  if (mine && !message.deleted) {
    const [kind, label] = tickOf(conversation, message);
    meta.append(" ", h("span", { class: `tick ${kind}`, "aria-label": label, title: label, dataset: { tick: kind },
      text: kind === "sent" ? "✓" : "✓✓" }));
  }
  li.append(meta);
  if (!message.deleted) li.append(messageMenu(conversation, message, mine));
  return li;
}

/** An image shows in the message; any other file is a download link with its name and size
 *  (the server sends it as an attachment too: never opened in the page). */
function attachmentItem(a, url) {
  if (a.kind === "image") {
    return h("a", { href: url, class: "attachment", target: "_blank", rel: "noopener" },
      h("img", { src: url, alt: a.name || "Image", loading: "lazy" }));
  }
  const name = a.name || "Download the file";
  // Our server names the download from ?name= (made safe there); `download` does it elsewhere.
  const href = url.startsWith("/media/") && a.name ? `${url}?name=${encodeURIComponent(a.name)}` : url;
  return h("a", { href, class: "attachment file", rel: "noopener", download: a.name || true,
    dataset: { kind: a.kind } },
    h("span", { class: "file-name", text: name }),
    Number.isFinite(a.size) ? h("span", { class: "file-size muted", text: ` (${humanBytes(a.size)})` }) : null);
}

function messageMenu(conversation, message, mine) {
  const role = conversation.members.find((m) => m.user_id === me.id)?.role;
  const canDeleteAll = mine || (conversation.kind === "group" && (role === "owner" || role === "admin"));
  const details = h("details", { class: "message-menu", open: openMenu === message.seq,
    ontoggle: () => { if (details.open) openMenu = message.seq; else if (openMenu === message.seq) openMenu = null; } },
    h("summary", { "aria-label": "Message actions", dataset: { action: "menu" } }, "⋯"));
  const act = (label, fn, cls = "") => h("button", { type: "button", class: `small ${cls}`.trim(), dataset: { action: label },
    onclick: () => { openMenu = null; details.open = false; fn(); } }, label);
  details.append(h("div", { class: "menu" },
    act("Reply", () => writing.compose({ kind: "reply", seq: message.seq })),
    QUICK_REACTIONS.map(([emoji, name]) => {
      const button = act(emoji, () => react(message, emoji, true), "emoji");
      button.setAttribute("aria-label", name);
      button.title = name;
      return button;
    }),
    mine ? act("Edit", () => writing.compose({ kind: "edit", seq: message.seq })) : null,
    act("Delete for me", () => removeMessage(message, "me")),
    canDeleteAll ? act("Delete for everyone", () => removeMessage(message, "everyone"), "danger") : null,
    // Reporting is a page of its own (docs/moderation.md): the same form as for blogs.
    mine ? null : act("Report", () => { location.href = `/report?kind=message&conversation_id=${encodeURIComponent(conversation.id)}&seq=${message.seq}`; })));
  return details;
}

function pendingItem(clientId, entry) {
  const li = h("li", { class: `message mine pending${entry.failed ? " failed" : ""}`, dataset: { clientId } });
  if (entry.text) li.append(h("p", { class: "text", text: entry.text }));
  for (const a of entry.attachments || []) {
    const url = safeUrl(a.url);
    if (url) li.append(attachmentItem(a, url));
  }
  li.append(h("p", { class: "meta muted" }, entry.failed ?
    [`Not sent: ${entry.failed} `, h("button", { type: "button", class: "link small", onclick: () => writing.retry(clientId) }, "Try again")] :
    h("span", { class: "tick pending", dataset: { tick: "pending" }, text: "Sending…" })));
  return li;
}

export function renderMessages({ toBottom = false, keepFrom = null } = {}) {
  const list = $("messages");
  const conversation = conversations.get(current);
  const kept = histories.get(current);
  if (!conversation || !kept) { list.replaceChildren(); return; }
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const seqs = [...kept.messages.keys()].sort((a, b) => a - b);
  const confirmed = new Set();
  const items = seqs.map((seq) => {
    const m = kept.messages.get(seq);
    if (m.client_id) confirmed.add(m.client_id);
    return messageItem(conversation, m, kept);
  });
  for (const [clientId, entry] of pending) {
    if (entry.conversation_id === current && !confirmed.has(clientId)) items.push(pendingItem(clientId, entry));
  }
  // The list is rebuilt: keep the keyboard where it was (the message, or its menu's button).
  const focused = document.activeElement;
  const focusedSeq = focused?.closest?.("#messages li")?.dataset.seq;
  const focusedAction = focused?.dataset?.action;
  list.replaceChildren(...items);
  $("older").hidden = kept.complete;
  if (keepFrom != null) list.scrollTop = list.scrollHeight - keepFrom;
  else if (toBottom || nearBottom) list.scrollTop = list.scrollHeight;
  if (focusedSeq) {
    const item = list.querySelector(`li[data-seq="${CSS.escape(focusedSeq)}"]`);
    const again = focusedAction && item?.querySelector(`[data-action="${CSS.escape(focusedAction)}"]`);
    (again || item)?.focus();
  }
}

// The reads of a conversation's history under way, and the changes to its messages heard
// while they are (seq → the message as last heard, or null: hidden for me). An answer may
// have been read before those changes: they go over it once it is in (`takeHistory`).
// One record per conversation, shared by its reads (also of the conversation itself by id,
// chat_events.js learnOf); a full reload, or the user's removal, makes it stale.
const reads = new Map();  // conversation id → {under, heard, stale}

/** A read of the conversation's history begins; call `endHistoryRead` when it ends. */
export function beginHistoryRead(conversationId) {
  let read = reads.get(conversationId);
  if (!read) reads.set(conversationId, read = { under: 0, heard: new Map(), stale: false });
  read.under += 1;
  return read;
}

export function endHistoryRead(conversationId, read) {
  read.under -= 1;
  if (!read.under && reads.get(conversationId) === read) reads.delete(conversationId);
}

/** Every history is read again (a full reload, or the HTTP view): what was shown, the reads
 *  under way and what they heard are all older than that reading, so none of them is kept. */
export function clearHistories() {
  histories.clear();
  for (const read of reads.values()) read.stale = true;
  reads.clear();
}

/** The user is no longer in the conversation: its history, and the reads of it under way
 *  (their answers are dropped, as `clearHistories` drops them all). */
export function forgetHistory(conversationId) {
  histories.delete(conversationId);
  const read = reads.get(conversationId);
  if (read) read.stale = true;
  reads.delete(conversationId);
}

/** A page of a conversation's history goes into `kept` (a new one if none): its messages, and
 *  `from`, the lowest seq the pages read cover without a gap, where "Load earlier" goes on. */
export function keepPage(kept, messages, complete) {
  kept ??= { messages: new Map(), from: Infinity, complete: false };
  for (const m of messages) {
    kept.messages.set(m.seq, m);
    kept.from = Math.min(kept.from, m.seq);
  }
  if (complete) kept.complete = true;
  return kept;
}

/** A copy of message `seq` may go into `kept`: a change to a message older than the pages
 *  read would show it above a hole, and "Load earlier" would page on from it past the hole. */
function covers(kept, seq) {
  return kept.complete || seq >= kept.from || kept.messages.has(seq);
}

/** A read of `conversationId`'s history was merged into `kept`: the changes heard during it
 *  go over it (heard in `pos` order, the last copy of each message is the newest), then the
 *  sends confirmed before it are settled. */
export function takeHistory(conversationId, read, kept) {
  for (const [seq, message] of read.heard) {
    if (!message) kept.messages.delete(seq);
    else if (covers(kept, seq)) kept.messages.set(seq, message);
  }
  settleSends(conversationId, kept);
}

export function upsertMessage(message) {
  reads.get(message.conversation_id)?.heard.set(message.seq, message);
  const kept = histories.get(message.conversation_id);
  if (!kept) {
    // Its history is not read yet (it may be under way, read before this send was stored):
    // the pending send keeps its stored copy until the history takes it (`settleSends`).
    const entry = message.client_id && pending.get(message.client_id);
    if (entry && entry.conversation_id === message.conversation_id) entry.stored = message;
    return;
  }
  if (covers(kept, message.seq)) kept.messages.set(message.seq, message);
  if (message.client_id) pending.delete(message.client_id);
  if (message.conversation_id === current) renderMessages();
}

/** The message leaves the user's history (deleted for me, here or on another device). */
export function hideMessage(conversationId, seq) {
  reads.get(conversationId)?.heard.set(seq, null);
  histories.get(conversationId)?.messages.delete(seq);
  if (conversationId === current) renderMessages();
}

/** A conversation's history was just read into `kept`: the sends confirmed before it (their
 *  ack or their `newMessage` came first) go into it, unless it already holds them (its copy
 *  is the newer), and are no longer pending, whatever the order of answers. */
export function settleSends(conversationId, kept) {
  for (const [clientId, entry] of pending) {
    if (entry.conversation_id !== conversationId || !entry.stored) continue;
    const seq = entry.stored.seq;
    if (!kept.messages.has(seq) && covers(kept, seq)) kept.messages.set(seq, entry.stored);
    pending.delete(clientId);
  }
}

function react(message, emoji, add) {
  client.command("react", { conversation_id: message.conversation_id, seq: message.seq, emoji, add })
    .then(({ message: updated }) => upsertMessage(updated), (error) => { $("chat-status").textContent = `Not done: ${error.message}`; });
}

function removeMessage(message, scope) {
  const question = scope === "everyone" ? "Delete this message for everyone?" : "Delete this message from your history?";
  if (!window.confirm(question)) return;
  client.command("delete", { conversation_id: message.conversation_id, seq: message.seq, scope }).then(({ message: gone }) => {
    if (scope === "me") {
      hideMessage(message.conversation_id, message.seq);
    } else {
      upsertMessage(gone);
    }
  }, (error) => { $("chat-status").textContent = `Not deleted: ${error.message}`; });
}
