// What the server tells the page as it happens: messages, edits, receipts, membership,
// presence and profiles, applied to the shared state and shown (typing: chat_typing.js).

import { messagePreview } from "./chat_dom.js";
import { $, client, conversations, current, friends, histories, learnPeople, me, nameOf, people,
  presence } from "./chat_state.js";
import { onChange, removedUnlisted } from "./chat_connection.js";
import { closeConversation, markSeen } from "./chat_conversations.js";
import { renderFriends, renderHeader, renderList } from "./chat_list.js";
import { beginHistoryRead, endHistoryRead, forgetHistory, hideMessage, renderMessages,
  upsertMessage } from "./chat_messages.js";
import { clearTyping } from "./chat_typing.js";

export function setUpEvents() {
  onChange("newMessage", async ({ message }) => {
    // Shown at once, in the order heard: an edit or reaction of it heard while the names
    // below are learnt goes over this copy, never under it.
    upsertMessage(message);
    clearTyping(message.conversation_id, message.sender_id);
    let c = conversations.get(message.conversation_id);
    if (!c) {  // a conversation someone else just started, or one past the pages read
      c = await learnOf(message.conversation_id);
      if (!c) return renderList();
      if (shownWithHistory(message.conversation_id)) renderMessages();
    }
    const self = c.members.find((m) => m.user_id === me.id);
    if (message.sender_id === me.id && self) self.read_seq = Math.max(self.read_seq, message.seq);
    // Held events may be older than the list they are applied to: never step back.
    if (message.seq >= (c.last_message?.seq ?? 0)) {
      c.last_message = message;
      c.last_activity = message.created_at;
    }
    c.last_seq = Math.max(c.last_seq || 0, message.seq);
    c.unread = Math.max(0, c.last_seq - (self?.read_seq ?? 0));
    renderList();
    if (message.sender_id === me.id) return;
    markSeen(message.conversation_id);
    if (!people.has(message.sender_id)) {  // shown as "User N" until the name is known
      await learnPeople([message.sender_id]);
      renderList();
      if (shownWithHistory(message.conversation_id)) renderMessages();
    }
    $("announcer").textContent = `${nameOf(message.sender_id)}: ${messagePreview(message)}`;
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
    if (scope === "me") hideMessage(conversation_id, seq);
    else upsertMessage(message);
  });

  onChange("member.added", membershipChanged);
  onChange("member.role", membershipChanged);
  onChange("group.updated", membershipChanged);
  onChange("member.removed", ({ conversation_id, user_ids, left }) => {
    if (!user_ids.includes(me.id)) return membershipChanged({ conversation_id, user_ids });
    if (!conversations.has(conversation_id)) removedUnlisted(conversation_id);
    conversations.delete(conversation_id);
    forgetHistory(conversation_id);
    renderList();
    if (current === conversation_id) {
      closeConversation();
      $("chat-status").textContent = left ? "You left the group." : "You were removed from the group.";
    }
  });

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
}

/** The conversation is open and its history read: with none (a reload still reading it), a
 *  render would empty the list shown until that read is in. */
function shownWithHistory(id) {
  return id === current && histories.has(id);
}

/** A conversation the list does not hold, read by id and added; one an event added while it
 *  was read is newer and kept. Null if it cannot be read (not the user's any more), or if a
 *  removal (or a full reload) heard while it was read made that answer stale. */
async function learnOf(id) {
  const read = beginHistoryRead(id);
  let answer;
  try {
    answer = await client.command("conversation", { conversation_id: id }).catch(() => null);
  } finally {
    endHistoryRead(id, read);
  }
  if (!answer || read.stale) return null;
  if (!conversations.has(id)) conversations.set(id, answer.conversation);
  const c = conversations.get(id);
  await learnPeople(c.members.map((m) => m.user_id));
  return c;
}

async function membershipChanged({ conversation_id, user_ids }) {
  if (user_ids?.includes(me.id) && !conversations.has(conversation_id)) await learnOf(conversation_id);
  if (user_ids) await learnPeople(user_ids);
  renderList();
  if (conversation_id === current) renderHeader();
}
