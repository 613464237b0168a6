// Who is typing: the others' typing notices per conversation, each until its `expires_in`
// or that person's message, and the line under the open conversation that names them.

import { $, client, current, nameOf } from "./chat_state.js";

const typists = new Map();       // conversation id → Map user id → timer

export function setUpTyping() {
  client.on("typing", ({ conversation_id, user_id, active, expires_in }) => {
    if (!active) return clearTyping(conversation_id, user_id);
    const users = typists.get(conversation_id) || new Map();
    clearTimeout(users.get(user_id));
    users.set(user_id, setTimeout(() => clearTyping(conversation_id, user_id), (expires_in || 6) * 1000));
    typists.set(conversation_id, users);
    renderTyping();
  });
}

export function clearTyping(conversationId, userId) {
  const users = typists.get(conversationId);
  if (!users?.has(userId)) return;
  clearTimeout(users.get(userId));
  users.delete(userId);
  renderTyping();
}

export function renderTyping() {
  const names = [...(typists.get(current)?.keys() || [])].map(nameOf);
  $("typing").textContent = names.length === 0 ? "" :
    `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…`;
}
