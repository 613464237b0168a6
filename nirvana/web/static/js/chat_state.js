// The chat page's shared state: who is signed in, what is known of people and conversations,
// the one protocol client, and the API helpers. The other chat modules change these maps and
// sets in place; the two bindings they replace (`current`, `friends`) change only through
// the setters here. It imports no other chat module, so it is evaluated before them.

import { ChatClient } from "./protocol.js";
import { keptSends, sessionPosition } from "./protocol_storage.js";

export const root = document.getElementById("chat");
export const me = { id: Number(root.dataset.userId), name: root.dataset.userName };
export const $ = (id) => document.getElementById(id);

export const people = new Map();        // user id → {id, name, avatar}
export const presence = new Map();      // user id → {state, last_seen}
export const conversations = new Map(); // conversation id → Conversation (as the server sends it)
export const histories = new Map();     // conversation id → {messages: Map seq → Message, from, complete}
export const pending = new Map();       // client id → {conversation_id, text, attachments, reply_to, failed}
export const muted = new Set();         // conversation ids muted: no badge, no mail (HTTP, not live)
export let current = null;              // the open conversation's id
export let friends = [];                // the friends, as GET /api/messages/users answers
// What is shown was read over HTTP while no socket was up (chat_connection.js): not live.
export let notLive = false;

export function setCurrent(id) { current = id; }
export function setFriends(list) { friends = list; }
export function setNotLive(on) {
  notLive = on;
  if (on) root.dataset.live = "false";
  else delete root.dataset.live;
}

export const kept = keptSends(me.id);
export const client = new ChatClient({
  url: `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`,
  position: sessionPosition(me.id),
  tokenExpiresAt: Number(root.dataset.tokenExpires) || null,
  kept,
});
people.set(me.id, { id: me.id, name: me.name });

// -- talking to the API --------------------------------------------------------------------

/** The API's answer; an Error with the server's message and `code` when it refuses. */
export async function api(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method, credentials: "same-origin",
    headers: body === undefined ? { Accept: "application/json", ...headers } :
      { Accept: "application/json", "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw Object.assign(new Error(data.error?.message || `The server answered ${response.status}.`),
                        { code: data.error?.code });
  }
  return data;
}

export async function learnPeople(ids) {
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

export const nameOf = (id) => people.get(id)?.name || `User ${id}`;
