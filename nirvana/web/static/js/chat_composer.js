// Writing: the composer (a reply or an edit in progress, Enter to send), typing notices, and
// sends shown at once as pending until their ack, with a retry when one is refused.

import { messagePreview } from "./chat_dom.js";
import { $, client, current, histories, nameOf, pending } from "./chat_state.js";
import { renderMessages, upsertMessage } from "./chat_messages.js";

const TYPING_EVERY_MS = 2500;
let composerMode = null;         // {kind: "reply"|"edit", seq}
let lastTypingSent = 0;

export function setComposerMode(mode) {
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

export function setUpComposer() {
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
}

function stopTyping() {
  if (!lastTypingSent || !current) return;
  lastTypingSent = 0;
  client.command("typing", { conversation_id: current, active: false }).catch(() => {});
}

export async function submitComposer(attachments = []) {
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

export function dispatch(fields, clientId = undefined) {
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

export function retry(clientId) {
  const entry = pending.get(clientId);
  if (!entry) return;
  pending.delete(clientId);
  const { failed, stored, ...fields } = entry;
  dispatch(fields, clientId);
}
