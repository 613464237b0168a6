// The chat page: conversations, messages, receipts, typing and presence, on the one protocol
// client (protocol.js). State lives in plain maps; the DOM is updated from them in place.

import { ChatClient, State, forgetKeptSends, keptSends, reportLater, sessionPosition } from "./protocol.js";
import { h, humanBytes, lastSeenText, messagePreview, presenceDot, safeUrl, shortTime } from "./chat_dom.js";
import { setUpGroups } from "./chat_groups.js";

const root = document.getElementById("chat");
const me = { id: Number(root.dataset.userId), name: root.dataset.userName };
const $ = (id) => document.getElementById(id);
// The quick reactions and their names: a name is its button's accessible name and tooltip,
// readable where the machine has no emoji font and the emoji shows as a box.
const QUICK_REACTIONS = [["👍", "Like"], ["❤️", "Love"], ["😂", "Laugh"], ["😮", "Wow"], ["😢", "Sad"]];
const TYPING_EVERY_MS = 2500;
const PAGE = 50;
const baseTitle = document.title;

const people = new Map();        // user id → {id, name, avatar}
const presence = new Map();      // user id → {state, last_seen}
const conversations = new Map(); // conversation id → Conversation (as the server sends it)
const histories = new Map();     // conversation id → {messages: Map seq → Message, complete}
const pending = new Map();       // client id → {conversation_id, text, attachments, reply_to, failed}
const typists = new Map();       // conversation id → Map user id → timer
const muted = new Set();         // conversation ids muted: no badge, no mail (HTTP, not live)
let current = null;              // the open conversation's id
let friends = [];
let composerMode = null;
let openMenu = null;             // the seq whose action menu is open: kept open across renders         // {kind: "reply"|"edit", seq}
let lastTypingSent = 0;
let wasConnected = false;
let loaded = false;              // the list and the open history were read since the page opened
let renewing = false;            // a planned reconnect with a renewed session: nothing to say
// Changes heard while the list is being read, kept in the order heard and applied once it
// is in place: the list may have been read before them, and must not overwrite what they
// changed. Null when no list is being read; `readers` counts the reads under way.
let heldBack = null;
let readers = 0;

const kept = keptSends(me.id);
const client = new ChatClient({
  url: `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`,
  position: sessionPosition(me.id),
  tokenExpiresAt: Number(root.dataset.tokenExpires) || null,
  kept,
});
people.set(me.id, { id: me.id, name: me.name });

// -- talking to the API --------------------------------------------------------------------

async function api(method, path, body) {
  const response = await fetch(path, {
    method, credentials: "same-origin",
    headers: body === undefined ? { Accept: "application/json" } :
      { Accept: "application/json", "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error?.message || `The server answered ${response.status}.`);
  return data;
}

async function learnPeople(ids) {
  const unknown = [...new Set(ids)].filter((id) => !people.has(id));
  await Promise.all(unknown.map(async (id) => {
    try {
      const profile = await api("GET", `/api/v1/users/${id}`);
      people.set(id, { id, name: profile.name, avatar: profile.avatar });
    } catch {
      people.set(id, { id, name: `User ${id}` });
    }
  }));
}

const nameOf = (id) => people.get(id)?.name || `User ${id}`;

// -- connection status ---------------------------------------------------------------------

client.on("state", ({ state, reason, retryIn }) => {
  const status = $("chat-status");
  status.dataset.state = state;
  if (state === State.CONNECTED) return;  // "ready" says how the reconnect went
  renewing = reason === "session renewed";
  if (renewing) return;
  if (state === State.CONNECTING && wasConnected) {
    const wait = retryIn ? ` Trying again in ${Math.ceil(retryIn / 1000)} s.` : "";
    status.textContent = `Connection lost (${reason}). Reconnecting…${wait} Messages you send now are kept and sent when it is back.`;
  } else if (state === State.CONNECTING) {
    status.textContent = "Connecting…";
  } else {
    status.textContent = reason === "signed out" ?
      "Your session has ended. Sign in again to keep chatting." : `Disconnected (${reason}).`;
  }
});

client.on("ready", async ({ recovered }) => {
  const status = $("chat-status");
  if (recovered === false) {
    status.textContent = "Reconnected. Some changes could not be replayed, so the chat was reloaded.";
  } else if (wasConnected && !renewing) {
    status.textContent = "Reconnected. You are up to date.";
  } else {
    status.textContent = "Connected.";
  }
  wasConnected = true;
  if (loaded && recovered !== false) {
    if (current) markSeen(current);
    return;
  }
  try {
    await reload();
    loaded = true;
  } catch (error) {  // dropped meanwhile: the next "ready" tries again
    status.textContent = `Your conversations could not be loaded (${error.message}). Trying again…`;
  }
});

client.on("signedOut", () => { location.href = `/signin?next=${encodeURIComponent("/chat")}`; });

async function reload() {
  // A read started while another is under way (the socket came back meanwhile) shares its
  // queue; the last to end applies what was held, on whatever list is in place, also when
  // a read failed.
  const queue = heldBack ?? [];
  heldBack = queue;
  readers += 1;
  try {
    await readEverything();
  } finally {
    readers -= 1;
    if (readers === 0) {
      heldBack = null;
      applyHeld(queue);
    }
  }
}

/** Runs held handlers in the order heard, as the client's emitter runs handlers: not
 *  awaited (what arrives meanwhile comes after, as it would have), one failing not
 *  stopping the others. */
function applyHeld(queue) {
  for (const apply of queue.splice(0)) {
    try {
      Promise.resolve(apply()).catch(reportLater);
    } catch (error) {
      reportLater(error);
    }
  }
}

async function readEverything() {
  const [list, friendList, preferences] = await Promise.all([
    client.command("conversations"),
    api("GET", "/api/messages/users").catch(() => []),
    api("GET", "/api/v1/notifications/preferences").catch(() => null),
  ]);
  friends = friendList;
  if (preferences) {
    muted.clear();
    for (const id of preferences.muted_conversations) muted.add(id);
  }
  for (const f of friends) {
    people.set(f.id, { id: f.id, name: f.name, avatar: f.avatar_url });
    if (!presence.has(f.id)) presence.set(f.id, { state: f.online ? "online" : "offline" });
  }
  conversations.clear();
  histories.clear();  // what was shown may have missed events: read it again
  for (const c of list.conversations) conversations.set(c.id, c);
  for (const c of list.conversations) if (c.id !== current) markSeen(c.id);  // delivered ticks
  await learnPeople(list.conversations.flatMap((c) => c.members.map((m) => m.user_id)));
  renderList();
  renderFriends();
  const wanted = new URLSearchParams(location.search);
  if (current && conversations.has(current)) {
    await openConversation(current);
  } else if (wanted.get("with")) {
    await openDirect(Number(wanted.get("with")));
  } else if (wanted.get("c") && conversations.has(wanted.get("c"))) {
    await openConversation(wanted.get("c"));
  }
}

// -- the conversation list -----------------------------------------------------------------

function titleOf(conversation) {
  if (conversation.kind === "group") return conversation.name || "Group";
  const other = conversation.members.find((m) => m.user_id !== me.id);
  return other ? nameOf(other.user_id) : "Just you";
}

function peerOf(conversation) {
  if (conversation.kind !== "direct") return null;
  return conversation.members.find((m) => m.user_id !== me.id)?.user_id ?? null;
}

function renderList() {
  const list = $("conversation-list");
  const sorted = [...conversations.values()].sort(
    (a, b) => (b.last_activity || "").localeCompare(a.last_activity || ""));
  list.replaceChildren(...sorted.map((c) => {
    const peer = peerOf(c);
    const last = c.last_message;
    const who = last && c.kind === "group" && !last.deleted ?
      `${last.sender_id === me.id ? "You" : nameOf(last.sender_id)}: ` : "";
    const unread = muted.has(c.id) ? h("span", { class: "muted-mark", text: "🔕",
      "aria-label": "muted" }) : c.unread > 0 ? h("span", { class: "unread", text: c.unread,
      "aria-label": `${c.unread} unread` }) : null;
    return h("li", { dataset: { conversation: c.id } },
      h("button", {
        type: "button", class: "conversation-item",
        "aria-current": c.id === current ? "true" : null,
        onclick: () => openConversation(c.id),
      },
      h("span", { class: "who" },
        peer ? presenceDot(presence.get(peer)) : null,
        h("span", { class: "name", text: titleOf(c) }),
        h("span", { class: "when muted", text: shortTime(c.last_activity) })),
      h("span", { class: "last" },
        h("span", { class: "snippet muted", text: who + messagePreview(last) }), unread)));
  }));
  $("no-conversations").hidden = conversations.size > 0;
  const unread = sorted.reduce((sum, c) => sum + (c.unread > 0 && !muted.has(c.id) ? 1 : 0), 0);
  document.title = `${unread ? `(${unread}) ` : ""}${baseTitle}`;
}

function renderFriends() {
  $("friend-list").replaceChildren(...friends.map((f) => h("li", {},
    h("button", { type: "button", class: "friend-item", onclick: () => openDirect(f.id) },
      presenceDot(presence.get(f.id)), h("span", { text: f.name }),
      h("span", { class: "visually-hidden", text: ", start a chat" })))));
}

// -- opening a conversation ----------------------------------------------------------------

async function openDirect(userId) {
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

async function openConversation(id) {
  current = id;
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
      loaded = false;  // read again on the next connection
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

async function loadHistory(id, before = null) {
  const fields = { conversation_id: id, limit: PAGE };
  if (before != null) fields.before = before;
  const answer = await client.command("history", fields);
  const kept = histories.get(id) || { messages: new Map(), complete: false };
  for (const m of answer.messages) kept.messages.set(m.seq, m);
  if (answer.messages.length < PAGE) kept.complete = true;
  histories.set(id, kept);
  await learnPeople(answer.messages.map((m) => m.sender_id));
}

function renderHeader() {
  const c = conversations.get(current);
  if (!c) return;
  $("conversation-title").textContent = titleOf(c);
  const peer = peerOf(c);
  const sub = $("conversation-sub");
  if (peer) {
    sub.replaceChildren(presenceDot(presence.get(peer)), lastSeenText(presence.get(peer)) || "offline");
  } else {
    sub.textContent = `${c.members.length} members: ${c.members.map((m) => nameOf(m.user_id)).join(", ")}`;
  }
  $("manage").hidden = c.kind !== "group";
  $("mute").textContent = muted.has(c.id) ? "Unmute" : "Mute";
}

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

// -- messages ------------------------------------------------------------------------------

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
    act("Reply", () => setComposerMode({ kind: "reply", seq: message.seq })),
    QUICK_REACTIONS.map(([emoji, name]) => {
      const button = act(emoji, () => react(message, emoji, true), "emoji");
      button.setAttribute("aria-label", name);
      button.title = name;
      return button;
    }),
    mine ? act("Edit", () => setComposerMode({ kind: "edit", seq: message.seq })) : null,
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
    [`Not sent: ${entry.failed} `, h("button", { type: "button", class: "link small", onclick: () => retry(clientId) }, "Try again")] :
    h("span", { class: "tick pending", dataset: { tick: "pending" }, text: "Sending…" })));
  return li;
}

function renderMessages({ toBottom = false, keepFrom = null } = {}) {
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

function upsertMessage(message) {
  const kept = histories.get(message.conversation_id);
  if (!kept) return;
  kept.messages.set(message.seq, message);
  if (message.client_id) pending.delete(message.client_id);
  if (message.conversation_id === current) renderMessages();
}

// -- reading -------------------------------------------------------------------------------

function markSeen(id) {
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

document.addEventListener("visibilitychange", () => { if (current) markSeen(current); });

// -- events from the server ----------------------------------------------------------------

/** Handles `type`, or keeps it for later while the list is being read (`reload`). */
function onChange(type, handler) {
  client.on(type, (frame) => {
    if (heldBack) heldBack.push(() => handler(frame));
    else handler(frame);
  });
}

onChange("newMessage", async ({ message }) => {
  const c = conversations.get(message.conversation_id);
  if (!c) {  // a conversation someone else just started
    const list = await client.command("conversations").catch(() => null);
    if (list) for (const x of list.conversations) conversations.set(x.id, x);
    await learnPeople([...conversations.values()].flatMap((x) => x.members.map((m) => m.user_id)));
    renderList();
    if (!list) return;
  } else {
    const self = c.members.find((m) => m.user_id === me.id);
    if (message.sender_id === me.id && self) self.read_seq = Math.max(self.read_seq, message.seq);
    // Held events may be older than the list they are applied to: never step back.
    if (message.seq >= (c.last_message?.seq ?? 0)) {
      c.last_message = message;
      c.last_activity = message.created_at;
    }
    c.last_seq = Math.max(c.last_seq || 0, message.seq);
    c.unread = Math.max(0, c.last_seq - (self?.read_seq ?? 0));
  }
  await learnPeople([message.sender_id]);
  clearTyping(message.conversation_id, message.sender_id);
  upsertMessage(message);
  renderList();
  if (message.sender_id !== me.id) {
    $("announcer").textContent = `${nameOf(message.sender_id)}: ${messagePreview(message)}`;
    markSeen(message.conversation_id);
  }
});

onChange("conversation.updated", ({ conversation }) => {
  conversations.set(conversation.id, conversation);
  renderList();
  if (conversation.id === current) { renderHeader(); renderMessages(); }
});

onChange("receipt", ({ conversation_id, user_id, kind, seq }) => {
  const member = conversations.get(conversation_id)?.members.find((m) => m.user_id === user_id);
  if (!member) return;
  const field = kind === "read" ? "read_seq" : "delivered_seq";
  member[field] = Math.max(member[field], seq);
  if (kind === "read") member.delivered_seq = Math.max(member.delivered_seq, seq);
  if (conversation_id === current) renderMessages();
});

for (const type of ["message.edited", "reaction"]) onChange(type, ({ message }) => upsertMessage(message));

onChange("message.deleted", ({ conversation_id, seq, scope, message }) => {
  if (scope === "me") {
    histories.get(conversation_id)?.messages.delete(seq);
    if (conversation_id === current) renderMessages();
  } else {
    upsertMessage(message);
  }
});

async function membershipChanged({ conversation_id, user_ids }) {
  if (user_ids?.includes(me.id) && !conversations.has(conversation_id)) {
    const list = await client.command("conversations").catch(() => null);
    if (list) for (const x of list.conversations) conversations.set(x.id, x);
  }
  if (user_ids) await learnPeople(user_ids);
  renderList();
  if (conversation_id === current) renderHeader();
}

onChange("member.added", membershipChanged);
onChange("member.role", membershipChanged);
onChange("group.updated", membershipChanged);
onChange("member.removed", ({ conversation_id, user_ids, left }) => {
  if (!user_ids.includes(me.id)) return membershipChanged({ conversation_id, user_ids });
  conversations.delete(conversation_id);
  histories.delete(conversation_id);
  renderList();
  if (current === conversation_id) {
    closeConversation();
    $("chat-status").textContent = left ? "You left the group." : "You were removed from the group.";
  }
});

client.on("typing", ({ conversation_id, user_id, active, expires_in }) => {
  if (!active) return clearTyping(conversation_id, user_id);
  const users = typists.get(conversation_id) || new Map();
  clearTimeout(users.get(user_id));
  users.set(user_id, setTimeout(() => clearTyping(conversation_id, user_id), (expires_in || 6) * 1000));
  typists.set(conversation_id, users);
  renderTyping();
});

function clearTyping(conversationId, userId) {
  const users = typists.get(conversationId);
  if (!users?.has(userId)) return;
  clearTimeout(users.get(userId));
  users.delete(userId);
  renderTyping();
}

function renderTyping() {
  const names = [...(typists.get(current)?.keys() || [])].map(nameOf);
  $("typing").textContent = names.length === 0 ? "" :
    `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…`;
}

client.on("getOnlineUsers", ({ user_ids }) => {
  const online = new Set(user_ids);
  for (const f of friends) {
    const known = presence.get(f.id);
    if (online.has(f.id) && (!known || known.state === "offline")) presence.set(f.id, { ...known, state: "online" });
    if (!online.has(f.id) && known && known.state !== "offline") presence.set(f.id, { ...known, state: "offline" });
  }
  renderList(); renderFriends(); renderHeader();
});

client.on("presence", ({ user_id, state, last_seen }) => {
  presence.set(user_id, { state, last_seen });
  if (user_id === me.id && state !== "offline") $("my-presence").value = state;
  renderList(); renderFriends();
  if (current) renderHeader();
});

onChange("profile.updated", ({ user }) => {
  people.set(user.id, { id: user.id, name: user.name, avatar: user.avatar_url });
  renderList(); renderFriends();
  if (current) { renderHeader(); renderMessages(); }
});

// -- writing -------------------------------------------------------------------------------

function setComposerMode(mode) {
  composerMode = mode;
  const box = $("composer-context");
  const text = $("message-text");
  if (!mode) {
    box.hidden = true;
    return;
  }
  const message = histories.get(current)?.messages.get(mode.seq);
  box.hidden = false;
  $("composer-context-text").textContent = mode.kind === "edit" ?
    "Editing your message" : `Replying to ${nameOf(message?.sender_id)}: ${messagePreview(message)}`;
  if (mode.kind === "edit") text.value = message?.text || "";
  text.focus();
}

$("composer-cancel").addEventListener("click", () => {
  if (composerMode?.kind === "edit") $("message-text").value = "";
  setComposerMode(null);
  $("message-text").focus();
});

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  submitComposer();
});

$("message-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submitComposer();
  } else if (event.key === "Escape" && composerMode) {
    setComposerMode(null);
  }
});

$("message-text").addEventListener("input", () => {
  if (!current) return;
  const typing = $("message-text").value.trim() !== "";
  const now = Date.now();
  if (typing && now - lastTypingSent > TYPING_EVERY_MS) {
    lastTypingSent = now;
    client.command("typing", { conversation_id: current, active: true }).catch(() => {});
  } else if (!typing && lastTypingSent) {
    stopTyping();
  }
});

function stopTyping() {
  if (!lastTypingSent || !current) return;
  lastTypingSent = 0;
  client.command("typing", { conversation_id: current, active: false }).catch(() => {});
}

async function submitComposer(attachments = []) {
  const field = $("message-text");
  const text = field.value.trim();
  if (!current || (!text && !attachments.length)) return;
  if (composerMode?.kind === "edit") {
    const seq = composerMode.seq;
    setComposerMode(null);
    field.value = "";
    client.command("edit", { conversation_id: current, seq, text })
      .then(({ message }) => upsertMessage(message), (error) => { $("chat-status").textContent = `Not edited: ${error.message}`; });
    return;
  }
  const reply_to = composerMode?.kind === "reply" ? composerMode.seq : null;
  setComposerMode(null);
  field.value = "";
  stopTyping();
  const fields = { conversation_id: current, text, reply_to, attachments,
    kind: attachments.length && !text ? attachments[0].kind : attachments[0]?.kind };
  dispatch(fields);
}

function dispatch(fields, clientId = undefined) {
  const { clientId: id, done } = client.send({ ...fields, client_id: clientId });
  pending.set(id, { ...fields, failed: null });
  if (fields.conversation_id === current) renderMessages({ toBottom: true });
  done.then(({ message }) => upsertMessage(message), (error) => {
    const entry = pending.get(id);
    if (!entry) return;
    entry.failed = error.message;
    if (fields.conversation_id === current) renderMessages();
  });
}

function retry(clientId) {
  const entry = pending.get(clientId);
  if (!entry) return;
  pending.delete(clientId);
  const { failed, ...fields } = entry;
  dispatch(fields, clientId);
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
      histories.get(message.conversation_id)?.messages.delete(message.seq);
      renderMessages();
    } else {
      upsertMessage(gone);
    }
  }, (error) => { $("chat-status").textContent = `Not deleted: ${error.message}`; });
}

$("attach").addEventListener("change", (event) => {
  const files = [...event.target.files];
  event.target.value = "";
  attachFiles(files);
});

// Dropping files on the open conversation attaches them, as picking them does.
$("conversation").addEventListener("dragover", (event) => {
  if (!event.dataTransfer?.types?.includes("Files")) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "copy";
  $("conversation").classList.add("dropping");
});
$("conversation").addEventListener("dragleave", (event) => {
  if (event.target === $("conversation")) $("conversation").classList.remove("dropping");
});
$("conversation").addEventListener("drop", (event) => {
  if (!event.dataTransfer?.files?.length) return;
  event.preventDefault();
  $("conversation").classList.remove("dropping");
  attachFiles([...event.dataTransfer.files]);
});

// Files go out in the order they were picked or dropped: a second pick waits for the first
// one's uploads, or a small file dropped after a big one would arrive before it.
let attaching = Promise.resolve();

/** Upload each file (the server judges its kind by its bytes), then send each as a message,
 *  the first with the text in the composer. */
function attachFiles(files) {
  const target = current;  // where the files were dropped, even if another chat is opened meanwhile
  if (!files.length || !target) return attaching;
  attaching = attaching.then(() => uploadAndSend(files, target));
  return attaching;
}

async function uploadAndSend(files, target) {
  const note = $("attachment-note");
  for (const file of files) {
    note.hidden = false;
    note.textContent = `Uploading ${file.name}…`;
    const form = new FormData();
    form.append("file", file);
    try {
      const response = await fetch("/api/v1/media/upload", { method: "POST", body: form, credentials: "same-origin" });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error?.message || `The server answered ${response.status}.`);
      note.hidden = true;
      const attachments = [{ url: data.url, kind: data.kind, name: file.name.slice(0, 200), size: data.size }];
      if (current === target) await submitComposer(attachments);
      else dispatch({ conversation_id: target, text: "", attachments, kind: data.kind });
    } catch (error) {
      note.textContent = `${file.name} was not attached: ${error.message}`;
      return;
    }
  }
}

// -- paging, search, navigation ------------------------------------------------------------

let loadingOlder = false;
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

async function loadOlder(kept) {
  const list = $("messages");
  const fromBottom = list.scrollHeight - list.scrollTop;
  const oldest = Math.min(...kept.messages.keys());
  try {
    await loadHistory(current, Number.isFinite(oldest) ? oldest : null);
  } catch (error) {
    $("chat-status").textContent = `Earlier messages could not be loaded: ${error.message}`;
    return;
  }
  renderMessages({ keepFrom: fromBottom });
}

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
        h("span", { class: "name", text: `${nameOf(m.sender_id)} in ${titleOf(conversations.get(m.conversation_id) || { kind: "group", members: [] })}` }),
        h("span", { class: "snippet muted", text: messagePreview(m) })))) :
      [h("li", { class: "muted", text: "Nothing found." })]));
  } catch (error) {
    results.replaceChildren(h("li", { class: "muted", text: `Search failed: ${error.message}` }));
  }
  $("search-results").hidden = false;
});

$("search-close").addEventListener("click", () => { $("search-results").hidden = true; });

async function showFound(message) {
  await openConversation(message.conversation_id);
  const kept = histories.get(message.conversation_id);
  for (let pages = 0; kept && !kept.messages.has(message.seq) && !kept.complete && pages < 20; pages++) {
    await loadHistory(message.conversation_id, Math.min(...kept.messages.keys())).catch(() => {});
  }
  renderMessages();
  const item = $("messages").querySelector(`li[data-seq="${message.seq}"]`);
  item?.scrollIntoView({ block: "center" });
  item?.focus();
}

function closeConversation() {
  current = null;
  root.classList.remove("has-open");
  $("conversation").hidden = true;
  $("pick").hidden = false;
  history.replaceState(null, "", "/chat");
  renderList();
}

$("back").addEventListener("click", closeConversation);

setUpGroups({
  me, conversations, api, nameOf, openConversation, closeConversation,
  friends: () => friends,
  current: () => current,
  changed: () => { renderList(); if (current) renderHeader(); },
});

$("my-presence").addEventListener("change", (event) => {
  client.command("presence", { state: event.target.value })
    .catch((error) => { $("chat-status").textContent = `Not changed: ${error.message}`; });
});

// Signing out here forgets this tab's unsent messages (the server's Clear-Site-Data does the
// same where the browser honours it).
for (const form of document.querySelectorAll('form[action="/signout"]')) {
  form.addEventListener("submit", () => { client.disconnect(); forgetKeptSends(); });
}

window.addEventListener("pagehide", () => client.disconnect());
// Back to a page kept in the browser's cache: its client was stopped, so start afresh.
window.addEventListener("pageshow", (event) => { if (event.persisted) location.reload(); });
// Sends not acknowledged before the page was reloaded go again, with their own client ids:
// shown as pending until their ack, and stored once even if they had landed.
for (const fields of kept.load()) dispatch(fields, fields.client_id);
client.connect();
