// How conversations are shown: the list (newest activity first, unread badges, the page
// title's count), the friends, and the open conversation's header.

import { h, lastSeenText, messagePreview, presenceDot, shortTime } from "./chat_dom.js";
import { $, conversations, current, friends, me, muted, nameOf, presence } from "./chat_state.js";

const baseTitle = document.title;
let opening = null;              // {openConversation, openDirect}: given at start
let more = null;                 // {cursor, load(cursor)} while the server has more to list
let loadingMore = false;
// The list's last item, while more follow: seen (scrolled to, or a keyboard's Tab onto its
// button), it asks for the next page.
const endSeen = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) loadMore();
}) : null;

/** Wire the list's buttons to the conversations (chat_conversations.js), which imports this
 *  module: a conversation's calls `openConversation(id, how)`, a friend's `openDirect(userId,
 *  how)`. */
export function setUpList({ openConversation, openDirect }) {
  opening = { openConversation, openDirect };
}

/** What the server said of the rest of the list (`next_cursor`, docs/protocol.md "Your
 *  conversation list, by page"): `load(cursor)` reads the next page and calls this again. */
export function setMore(cursor, load) {
  more = cursor ? { cursor, load } : null;
}

async function loadMore() {
  if (!more || loadingMore) return;
  loadingMore = true;
  // A keyboard user on the "More conversations" button: the redraw replaces its item, so
  // focus goes on to the first conversation the page brought.
  const onButton = document.activeElement?.closest("li.more-conversations") != null;
  const held = new Set(conversations.keys());
  try {
    await more.load(more.cursor);
  } catch {
    // Kept for the button, or the next time the end is seen (a reconnect reads it all).
  } finally {
    loadingMore = false;
  }
  if (onButton) focusFirstNew(held);
}

function focusFirstNew(held) {
  const items = [...$("conversation-list").children];
  const next = items.find((li) => li.dataset.conversation && !held.has(li.dataset.conversation))
    ?? items.find((li) => li.classList.contains("more-conversations"));
  next?.querySelector("button")?.focus();
}

export function titleOf(conversation) {
  if (conversation.kind === "group") return conversation.name || "Group";
  const other = conversation.members.find((m) => m.user_id !== me.id);
  return other ? nameOf(other.user_id) : "Just you";
}

function peerOf(conversation) {
  if (conversation.kind !== "direct") return null;
  return conversation.members.find((m) => m.user_id !== me.id)?.user_id ?? null;
}

/** Where focus goes once a conversation opened by `event` is shown: on into it when the
 *  activating button had focus (the keyboard, a screen reader, a desktop click), since the
 *  list is drawn again or hidden. A touch gets the title, not the composer, so the phone's
 *  keyboard does not cover the conversation just opened. */
function focusAfter(event) {
  if (event.currentTarget !== document.activeElement) return null;
  return event.pointerType === "touch" ? "title" : "composer";
}

/** Replaces `list`'s items, keeping focus on the new button of the item that had it (a
 *  presence frame or a message redraws the list while a keyboard user moves through it). */
function redraw(list, items, key) {
  const had = list.contains(document.activeElement) ?
    document.activeElement.closest("li")?.dataset[key] : undefined;
  list.replaceChildren(...items);
  if (had === undefined) return;
  const again = items.find((li) => li.dataset[key] === had)?.querySelector("button");
  again?.focus({ preventScroll: true });
}

export function renderList() {
  const list = $("conversation-list");
  const sorted = [...conversations.values()].sort(
    (a, b) => (b.last_activity || "").localeCompare(a.last_activity || ""));
  redraw(list, sorted.map((c) => {
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
        onclick: (event) => opening.openConversation(c.id, { push: true, focus: focusAfter(event) }),
      },
      h("span", { class: "who" },
        peer ? presenceDot(presence.get(peer)) : null,
        h("span", { class: "name", text: titleOf(c) }),
        h("span", { class: "when muted", text: shortTime(c.last_activity) })),
      h("span", { class: "last" },
        h("span", { class: "snippet muted", text: who + messagePreview(last) }), unread)));
  }).concat(more ? [h("li", { class: "more-conversations" },
    h("button", { type: "button", class: "link", text: "More conversations",
      onclick: loadMore }))] : []), "conversation");
  endSeen?.disconnect();
  if (more) endSeen?.observe(list.lastElementChild);
  $("no-conversations").hidden = conversations.size > 0;
  const unread = sorted.reduce((sum, c) => sum + (c.unread > 0 && !muted.has(c.id) ? 1 : 0), 0);
  document.title = `${unread ? `(${unread}) ` : ""}${baseTitle}`;
}

export function renderFriends() {
  $("no-friends").hidden = friends.length > 0;
  redraw($("friend-list"), friends.map((f) => h("li", { dataset: { friend: f.id } },
    h("button", { type: "button", class: "friend-item",
      onclick: (event) => opening.openDirect(f.id, { push: true, focus: focusAfter(event) }) },
      presenceDot(presence.get(f.id)), h("span", { text: f.name }),
      h("span", { class: "visually-hidden", text: ", start a chat" })))), "friend");
}

export function renderHeader() {
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
