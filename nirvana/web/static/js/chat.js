// The chat page: conversations, messages, receipts, typing and presence, on the one protocol
// client (protocol.js). State lives in plain maps (chat_state.js); the DOM is updated from
// them in place. Each chat_*.js module holds one concept and only declares when it is
// evaluated (but chat_state.js, which builds the client and imports no other chat module).
// This is the page's controller: it knows every module and wires them here, once all are
// loaded. No chat module imports one that imports it back: a lower one (the list, the
// messages, the conversations) reports upwards through the callbacks given here at start.

import { forgetKeptSends } from "./protocol_storage.js";
import { $, api, client, conversations, current, friends, kept, me, nameOf, root } from "./chat_state.js";
import { setUpAttachments } from "./chat_attachments.js";
import { dispatch, retry, setComposerMode, setUpComposer } from "./chat_composer.js";
import { readAgainOnReconnect, setUpConnection } from "./chat_connection.js";
import { closeConversation, openConversation, openDirect, setUpConversations } from "./chat_conversations.js";
import { setUpEvents } from "./chat_events.js";
import { setUpGroups } from "./chat_groups.js";
import { renderHeader, renderList, setUpList } from "./chat_list.js";
import { setUpMessages } from "./chat_messages.js";
import { setUpPaging } from "./chat_paging.js";
import { setUpTyping } from "./chat_typing.js";
// Imported only deeper down: named here too, so the browser asks for every module in the
// round after this one instead of finding these a round later.
import "./chat_dom.js";
import "./emitter.js";
import "./keyed_post.js";
import "./protocol.js";
import "./protocol_base.js";
import "./protocol_outbox.js";

root.dataset.script = "on";
$("chat-status").textContent = "Connecting…";
setUpList({ openConversation, openDirect });
setUpMessages({ compose: setComposerMode, retry });
setUpConnection();
setUpConversations({ historyFailed: readAgainOnReconnect });
setUpEvents();
setUpTyping();
setUpComposer();
setUpAttachments();
setUpPaging();

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
