// The connection as the chat page shows it: the status line, and reading everything again
// when the client is ready (a first connection, or a reconnect that could not be replayed).
// Server events that change what that read returns go through `onChange`, which holds them
// while a read is under way: the first page of the list, never the pages after it, nor the
// conversation an address names, which is read by id once the held events are applied.

import { reportLater } from "./emitter.js";
import { State } from "./protocol.js";
import { $, api, client, conversations, current, histories, learnPeople, muted, notLive, people,
  presence, setFriends, setNotLive } from "./chat_state.js";
import { renderFriends, renderList, setMore } from "./chat_list.js";
import { clearHistories, keepPage, settleSends } from "./chat_messages.js";
import { closeConversation, markSeen, openConversation, openDirect, openFromAddress } from
  "./chat_conversations.js";

let wasConnected = false;
// Each reading of the whole list starts a new walk of its pages; a page asked in an older
// walk (before a reconnect) is dropped, as its cursor would skip what came since.
let walk = 0;
let loaded = false;              // the list and the open history were read since the page opened
let historyMisses = 0;           // open histories that could not be read, ever
let renewing = false;            // a planned reconnect with a renewed session: nothing to say
// The list and open history read over HTTP before the first socket is up (`notLive` once
// shown), until the socket's own read replaces them: read once (again only if that read
// failed), so earlier pages loaded meanwhile stay; `retryIn`: the wait the status line says.
let httpRead = null;
let httpShown = false;
let retryIn = null;

// Changes heard while the list is being read, kept in the order heard and applied once it
// is in place: the list may have been read before them, and must not overwrite what they
// changed. Null when no list is being read; `readers` counts the reads under way.
let heldBack = null;
let readers = 0;
// The conversations the user was removed from while `openAsked` reads one by id, or null.
let removedMeanwhile = null;

/** The open history could not be read: read everything again on the next connection. */
export function readAgainOnReconnect() {
  loaded = false;
  historyMisses += 1;
}

export function setUpConnection() {
  client.on("state", ({ state, reason, retryIn: nextTry }) => {
    const status = $("chat-status");
    status.dataset.state = state;
    if (state === State.CONNECTED) return;  // "ready" says how the reconnect went
    renewing = reason === "session renewed";
    if (renewing) return;
    retryIn = nextTry;
    // A socket refused (during a Redis outage only the chat writer's instance takes new ones)
    // leaves the page empty until one is taken: show what HTTP, served by every instance, reads.
    if (state === State.CONNECTING && retryIn && !wasConnected && !httpShown && !httpRead) {
      httpRead = readOverHttp().catch(() => {}).finally(() => { httpRead = null; });
    }
    if (state === State.CONNECTING && wasConnected) {
      const wait = retryIn ? ` Trying again in ${Math.ceil(retryIn / 1000)} s.` : "";
      const why = reason && reason !== "connection lost" ? ` (${reason})` : "";
      status.textContent = `Connection lost${why}. Reconnecting…${wait} Messages you send now are kept and sent when it is back.`;
    } else if (state === State.CONNECTING) {
      status.textContent = notLive ? notLiveText(retryIn) : "Connecting…";
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
    // A history that fails during the read is caught inside it: counted, so the read still
    // ends but the next "ready" reads everything again.
    const misses = historyMisses;
    let asked;
    try {
      asked = await reload();
      if (historyMisses === misses) loaded = true;
    } catch (error) {  // dropped meanwhile: the next "ready" tries again
      status.textContent = `Your conversations could not be loaded (${error.message}). Trying again…`;
      return;
    }
    if (asked) await openAsked(asked);
  });

  client.on("signedOut", () => { location.href = `/signin?next=${encodeURIComponent("/chat")}`; });
}

/** The first page of the list read again, the events heard meanwhile then applied; the id
 *  of a conversation the address names that the page did not bring, for `openAsked`. */
async function reload() {
  // A read started while another is under way (the socket came back meanwhile) shares its
  // queue; the last to end applies what was held, on whatever list is in place, also when
  // a read failed.
  const queue = heldBack ?? [];
  heldBack = queue;
  readers += 1;
  try {
    return await readEverything();
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
  const mine = ++walk;
  setMore(null);
  const [list, friendList, preferences] = await Promise.all([
    client.command("conversations"),
    api("GET", "/api/messages/users").catch(() => []),
    api("GET", "/api/v1/notifications/preferences").catch(() => null),
  ]);
  // A newer reading began meanwhile (a reconnect): this one's first page and cursor are
  // older than what it reads, so leave the list to it.
  if (mine !== walk) return;
  setNotLive(false);
  applyFriends(friendList, preferences);
  conversations.clear();
  clearHistories();  // what was shown may have missed events: read it again
  setMore(list.next_cursor, loadMore);
  await listed(list.conversations);
  renderList();
  renderFriends();
  const wanted = new URLSearchParams(location.search);
  if (current && conversations.has(current)) {
    await openConversation(current);
  } else if (wanted.get("with")) {
    await openDirect(Number(wanted.get("with")));
  } else {
    const asked = wanted.get("c") || hashConversation();
    if (asked && conversations.has(asked)) await openFromAddress(asked);
    else if (asked) return asked;  // older than the first page, or not the user's
  }
  return null;
}

// Friends whose presence the HTTP view set: no socket told it, so the socket's read replaces it.
const presenceOverHttp = new Set();

/** The friends (with the presence they were read with, unless an event told it since) and the
 *  muted conversations, as a read of everything, over the socket or HTTP, brought them. */
function applyFriends(friendList, preferences, overHttp = false) {
  setFriends(friendList);
  if (preferences) {
    muted.clear();
    for (const id of preferences.muted_conversations) muted.add(id);
  }
  for (const f of friendList) {
    people.set(f.id, { id: f.id, name: f.name, avatar: f.avatar_url });
    if (presence.has(f.id) && !presenceOverHttp.has(f.id)) continue;
    presence.set(f.id, { state: f.online ? "online" : "offline" });
    if (overHttp) presenceOverHttp.add(f.id);
    else presenceOverHttp.delete(f.id);
  }
}

function notLiveText(retryIn) {
  const wait = retryIn ? ` Trying again in ${Math.ceil(retryIn / 1000)} s.` : "";
  return `Connecting…${wait} Your conversations as last read, not live: new messages show ` +
    "once the chat connects.";
}

/** The first page of the list, and the recent history of the conversation the address names,
 *  read over HTTP and shown as not live. Nothing of the client changes (its position, its
 *  outbox): the socket's first "ready" reads everything again and replaces all of it, and a
 *  socket read begun meanwhile (a newer walk) makes this one's answer count for nothing. */
async function readOverHttp() {
  const mine = walk;
  const [list, friendList, preferences] = await Promise.all([
    api("GET", "/api/v1/conversations"),
    api("GET", "/api/messages/users").catch(() => []),
    api("GET", "/api/v1/notifications/preferences").catch(() => null),
  ]);
  const wanted = new URLSearchParams(location.search).get("c") || hashConversation();
  const asked = list.conversations.some((c) => c.id === wanted) ? wanted : null;
  const messagesOf = `/api/v1/conversations/${encodeURIComponent(asked)}/messages?limit=50`;
  const recent = asked ? await api("GET", messagesOf).catch(() => null) : null;
  await learnPeople([...list.conversations.flatMap((c) => c.members.map((m) => m.user_id)),
                     ...(recent?.messages ?? []).map((m) => m.sender_id)]);
  if (mine !== walk || loaded || client.state === State.CONNECTED) return;
  setNotLive(true);
  applyFriends(friendList, preferences, true);
  conversations.clear();
  clearHistories();
  for (const c of list.conversations) conversations.set(c.id, c);
  if (recent) {
    const kept = keepPage(null, recent.messages, recent.messages.length < 50);
    settleSends(asked, kept);
    histories.set(asked, kept);
  }
  renderList();
  renderFriends();
  httpShown = true;
  $("chat-status").textContent = notLiveText(retryIn);
  if (asked && !current) await openFromAddress(asked);
}

/** A conversation the address names that the first page did not bring: read by id, put in
 *  the list and opened; one the user is not in (or that does not exist) leaves the address,
 *  and the status line says so. The answer counts only if nothing moved on meanwhile: the
 *  user opened another conversation or left the address, a reconnect began a newer reading,
 *  or a removal from it came before the answer (the socket may deliver it first). */
async function openAsked(id) {
  const asked = walk;
  const gone = removedMeanwhile = new Set();
  let answer = null;
  let refusal = null;
  try {
    answer = await client.command("conversation", { conversation_id: id });
  } catch (error) {
    refusal = error;
  } finally {
    if (removedMeanwhile === gone) removedMeanwhile = null;
  }
  const addressed = new URLSearchParams(location.search).get("c") || hashConversation();
  if (asked !== walk || (current && current !== id) || addressed !== id) return;
  if (gone.has(id)) refusal = { code: "not_member" };
  if (refusal) {
    if (refusal.code === "not_member" || refusal.code === "invalid_command") {
      // An open one (read by id before a reconnect) goes back over its own entry.
      if (current === id) closeConversation();
      else history.replaceState(null, "", "/chat");
      $("chat-status").textContent = "That conversation is not available: you are not in it, or it no longer exists.";
    } else {
      $("chat-status").textContent = `That conversation could not be opened: ${refusal.message}`;
    }
    return;
  }
  await listed([answer.conversation]);
  renderList();
  await openFromAddress(id);
}

/** Told of the user's removal from a conversation the list does not hold (chat_events.js):
 *  one being read by id then is not opened. */
export function removedUnlisted(id) {
  removedMeanwhile?.add(id);
}

/** Conversations a page of the list brought: kept, unless a live event brought one first
 *  (it is newer), and told delivered. */
async function listed(page) {
  for (const c of page) if (!conversations.has(c.id)) conversations.set(c.id, c);
  for (const c of page) if (c.id !== current) markSeen(c.id);  // delivered ticks
  await learnPeople(page.flatMap((c) => c.members.map((m) => m.user_id)));
}

/** The next page of the list, asked when its end is seen (chat_list.js); the cursor of the
 *  one after it, or null (none, or a newer walk began meanwhile). */
async function loadMore(cursor) {
  const asked = walk;
  const page = await client.command("conversations", { cursor });
  if (asked !== walk) return null;
  setMore(page.next_cursor, loadMore);
  await listed(page.conversations);
  renderList();
  return page.next_cursor ?? null;
}

/** The conversation an older link names after a #; a malformed one names none. */
function hashConversation() {
  try {
    return decodeURIComponent(location.hash.slice(1));
  } catch {
    return "";
  }
}

/** Handles `type`, or keeps it for later while the list is being read (`reload`). */
export function onChange(type, handler) {
  client.on(type, (frame) => {
    if (heldBack) heldBack.push(() => handler(frame));
    else handler(frame);
  });
}
