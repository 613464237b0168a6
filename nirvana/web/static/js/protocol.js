// The reference client of Nirvana's chat protocol (docs/protocol.md, "The reference client").
//
// One object per page keeps one WebSocket open through drops, restarts and token expiry.
// Its state machine is explicit: disconnected → connecting → connected, and back. It resumes
// from the last durable position it processed (kept per user in sessionStorage, never a token),
// drops any position it has already seen, retries unacknowledged sends with the same client id
// (kept across a reload too, when given a `kept` store: see keptSends) and keeps each
// conversation's sends in the order given, renews the access cookie before it expires, and
// clears every timer when it disconnects. Plain ES modules, no build step, no dependency: the
// emitter, the plain helpers (its error, the cookie renewal, the backoff, client ids), the
// outbox and the sessionStorage stores are modules of their own (emitter.js, protocol_base.js,
// protocol_outbox.js, protocol_storage.js); their exported names are exported here too.

import { Emitter } from "./emitter.js";
import { backoffDelay, newClientId, ProtocolError, refreshCookieSession } from "./protocol_base.js";
import { Outbox } from "./protocol_outbox.js";

export { Emitter, reportLater } from "./emitter.js";
export { backoffDelay, newClientId, ProtocolError, refreshCookieSession } from "./protocol_base.js";
export { forgetKeptSends, keptSends, sessionPosition } from "./protocol_storage.js";

export const State = Object.freeze({
  DISCONNECTED: "disconnected",
  CONNECTING: "connecting",
  CONNECTED: "connected",
});

// Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes").
const FINAL_CLOSES = new Set([1008, 1009, 4003, 4029]);
// The start of the fixed 1013 reason (docs/protocol.md, "Close codes"; nirvana/ws/close_codes.py)
// of an instance that cannot reach the chat writer (Redis is down): another may take the socket.
const WRITER_UNREACHABLE = "The chat writer cannot be reached";

export class ChatClient extends Emitter {
  /**
   * @param {object} options
   * @param {string} options.url            ws(s)://host/ws; the cookie authenticates it
   * @param {{load(): number|null, save(pos: number): void}} options.position
   * @param {() => Promise<number>} [options.refresh]  renews the session, resolves to the
   *        new access expiry in ms (default: POST /api/v1/user/refresh with the cookie)
   * @param {number|null} [options.tokenExpiresAt]  the current access expiry, ms since epoch
   * @param {object} [options.backoff]      {min, max} reconnect delays in ms
   * @param {number} [options.commandTimeout]  ms before an unanswered command fails
   * @param {{load(): object[], save(list: object[]): void}} [options.kept]  where unacknowledged
   *        sends are kept across a reload (see keptSends); the page sends them again
   */
  constructor({ url, position, refresh = refreshCookieSession, tokenExpiresAt = null, kept = null,
                backoff = { min: 500, max: 20000 }, commandTimeout = 15000,
                WebSocketImpl = globalThis.WebSocket, random = Math.random,
                now = () => Date.now(), window: win = globalThis.window } = {}) {
    super();
    this.url = url;
    this.state = State.DISCONNECTED;
    this.userId = null;
    this.limits = null;
    this._position = position;
    this._refresh = refresh;
    this._tokenExpiresAt = tokenExpiresAt;
    this._backoff = backoff;
    this._commandTimeout = commandTimeout;
    this._WebSocket = WebSocketImpl;
    this._random = random;
    this._now = now;
    this._window = win;
    this._socket = null;
    this._attempt = 0;
    this._nextId = 1;
    this._pending = new Map();   // command id → {resolve, reject, timer}
    this._outbox = new Outbox({
      transmit: (fields) => this._request("send", fields),
      connected: () => this.state === State.CONNECTED,
      retryDelay: (attempt) => backoffDelay(attempt, this._backoff, this._random),
      // A head held for a server fault waits for a reconnect: make it now, not on the 1011.
      serverFault: () => { if (this._socket) this._drop(4000, "server fault"); },
      kept,
    });
    this._timers = { reconnect: null, heartbeat: null, pong: null, refresh: null };
    this._wanted = false;
    this._stopped = null;        // once stopped, its message: a send then fails at once
    this._renewal = null;        // the renewal under way: a second cause joins it
    this._generation = 0;        // bumped by every stop: a renewal begun before it is stale
    this._onOnline = () => { if (this._wanted && this.state !== State.CONNECTED) this._reconnectNow("back online"); };
    this._onOffline = () => { if (this._socket) this._drop(4000, "offline"); };
  }

  /** The last durable position processed (null before the first hello). */
  get position() { return this._position.load(); }

  /** Start (or keep) connecting; reconnects on its own until `disconnect()`. */
  connect() {
    if (this._wanted) return;
    this._wanted = true;
    if (this._stopped != null) this._outbox.restart();  // the kept copy keeps the rejected sends
    this._stopped = null;
    this._window?.addEventListener("online", this._onOnline);
    this._window?.addEventListener("offline", this._onOffline);
    this._scheduleRefresh();
    this._open();
  }

  /** Stop for good: close the socket, clear every timer, fail the pending commands and
   *  sends (with code "disconnected"). */
  disconnect() {
    this._stop("stopped", "The client was stopped.", "bye");
  }

  /**
   * Send one command; resolves to its answer frame (`ack`, `pong`, `resumed`, ...), rejects
   * with a ProtocolError for an `error` frame, when offline, for fields JSON cannot carry, or
   * on a drop before the answer. Every state-changing command is idempotent on the server.
   */
  command(type, fields = {}) {
    if (this.state !== State.CONNECTED) {
      return Promise.reject(new ProtocolError("offline", "Not connected."));
    }
    return this._request(type, fields);
  }

  /**
   * Send a message. It is kept until the server acknowledges it: after a drop, no answer, or
   * a `unavailable`/`store_timeout`/`rate_limited`/`internal_error` error it is sent again
   * with the same `client_id`, so it is stored once. A conversation's sends go one at a time
   * in the order given, so they are stored in that order. Returns {clientId, done}; `done`
   * resolves to the ack (`message`, `duplicate`) and rejects for a refusal that a retry cannot
   * change (fields JSON cannot carry: "unserialisable"), a third `internal_error`, or when the
   * client stops (`disconnect()`, a final close, signed out: code "disconnected";
   * docs/protocol.md, Sends and Stopping). A send made once the client has stopped (before
   * `connect()` again) rejects at once, and is added to the kept copy for a page that comes
   * back; a restart leaves what the kept copy holds in it, in its place, until each is sent
   * again and acknowledged or refused.
   */
  send({ conversation_id, text, kind, attachments, reply_to, client_id }) {
    const clientId = client_id || newClientId();
    const fields = { conversation_id, client_id: clientId };
    if (text) fields.text = text;
    if (kind) fields.kind = kind;
    if (attachments?.length) fields.attachments = attachments;
    if (reply_to != null) fields.reply_to = reply_to;
    // Refused before it waits: in the outbox it would stop every later send being kept.
    try { JSON.stringify(fields); } catch (error) {
      return { clientId, done: Promise.reject(new ProtocolError("unserialisable", `send: ${error.message}`)) };
    }
    if (this._stopped != null) {
      // Nothing would ever send it; the outbox is left as the stop left it.
      this._outbox.keep(fields);
      return { clientId, done: Promise.reject(new ProtocolError("disconnected", this._stopped)) };
    }
    return { clientId, done: this._outbox.add(fields) };
  }

  /** Client ids of sends not yet acknowledged, oldest first. */
  unsent() { return this._outbox.clientIds(); }

  // -- the socket ------------------------------------------------------------------------

  _open(reason = null) {
    this._clear("reconnect");
    if (this._socket) {  // never two sockets: the server counts them
      this._closeSocket(1000, "replaced");
      this._failPending("disconnected");
    }
    if (this._window?.navigator?.onLine === false) {
      // The browser knows there is no network: wait for its "online" event, not a timer.
      this._setState(State.CONNECTING, "offline");
      return;
    }
    this._setState(State.CONNECTING, reason || (this._attempt ? "reconnecting" : "connecting"));
    const since = this._position.load();
    const url = since == null ? this.url : `${this.url}${this.url.includes("?") ? "&" : "?"}since=${since}`;
    let socket;
    try {
      socket = new this._WebSocket(url);
    } catch (error) {
      this._scheduleReconnect("unreachable");
      return;
    }
    this._socket = socket;
    this._resuming = since != null;
    socket.onmessage = (event) => { if (this._socket === socket) this._receive(event.data); };
    socket.onclose = (event) => {
      if (this._socket === socket) this._closed(event.code, event.reason);
    };
    socket.onerror = () => {};  // followed by close, which decides what to do
  }

  _receive(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    this._armHeartbeat();  // any frame proves the link is alive
    const pos = frame.pos;
    if (Number.isInteger(pos)) {
      const last = this._position.load();
      if (last != null && pos <= last) return;  // already processed: never twice
      this._position.save(pos);
    }
    switch (frame.type) {
      case "hello": return this._hello(frame);
      case "resumed": if (frame.id == null) return this._ready(true, frame.head); break;
      case "resync_required": if (frame.id == null) return this._resync(frame.head); break;
    }
    if (frame.id != null && this._pending.has(frame.id)) {
      this._answer(frame);
      if (frame.type === "pong") return;
    }
    if (frame.type === "ack" || frame.type === "error") return;
    this.emit("*", frame);
    this.emit(frame.type, frame);
  }

  _hello(frame) {
    this.userId = frame.user_id;
    this.limits = frame.limits;
    this._heartbeatMs = Math.max(1000, (frame.heartbeat_seconds || 20) * 1000);
    this.emit("hello", frame);
    if (!this._resuming) {
      this._position.save(frame.head);
      this._ready(null, frame.head);
    }
  }

  _resync(head) {
    this._position.save(head);
    this._ready(false, head);
  }

  /** Connected: `recovered` is true (every missed event was replayed), false (not
   *  recovered: refetch what you show) or null (a first connection). */
  _ready(recovered, head) {
    this._attempt = 0;
    this._setState(State.CONNECTED, recovered === false ? "not recovered" : "connected");
    this.emit("ready", { recovered, head });
    this._armHeartbeat();
    this._outbox.resume();
  }

  _closed(code, reason) {
    this._socket = null;
    this._clear("heartbeat");
    this._clear("pong");
    this._failPending("disconnected");
    if (!this._wanted) return;
    if (code === 4001) {
      this._setState(State.CONNECTING, "session expired");
      this._renewThenReconnect();
    } else if (FINAL_CLOSES.has(code)) {
      this._stop(reason || `closed ${code}`, "The server closed the connection.");
      this.emit("closed", { code, reason });
    } else {
      // A 1013 backs off three steps further (a store is down, a writer is changing), but not
      // one refused because this instance cannot reach the chat writer (Redis is down): the
      // next socket may land on another instance, the writer's, which takes it.
      const busy = code === 1013 && !String(reason).startsWith(WRITER_UNREACHABLE);
      this._scheduleReconnect(code === 1013 ? "server busy" : "connection lost", busy ? 3 : 0);
    }
  }

  /** Close the current socket on purpose (offline, dead link, renewed token) and reconnect. */
  _drop(code, reason) {
    const socket = this._socket;
    this._closeSocket(code, reason);
    if (socket) this._closed(code === 4000 ? 1006 : code, reason);
  }

  _closeSocket(code, reason) {
    const socket = this._socket;
    this._socket = null;
    if (!socket) return;
    try { socket.close(code >= 4000 || code === 1000 ? code : 1000, reason); } catch { /* already closed */ }
  }

  _scheduleReconnect(reason, extraSteps = 0) {
    const delay = backoffDelay(this._attempt + extraSteps, this._backoff, this._random);
    this._attempt += 1;
    this._setState(State.CONNECTING, reason, delay);
    this._clear("reconnect");
    this._timers.reconnect = setTimeout(() => this._open(), delay);
  }

  /** Replace the socket at once (back online, renewed session): no backoff. */
  _reconnectNow(reason) {
    this._attempt = 0;
    this._closeSocket(1000, reason);
    this._clear("heartbeat");
    this._clear("pong");
    this._failPending("disconnected");
    this._open(reason);
  }

  // -- heartbeats ------------------------------------------------------------------------

  // The server's WebSocket pings are invisible to a page, so the client asks too: silence
  // for one heartbeat interval sends `ping`; no answer within another one drops the link.
  _armHeartbeat() {
    if (!this._socket || !this._heartbeatMs) return;
    this._clear("heartbeat");
    this._clear("pong");
    this._timers.heartbeat = setTimeout(() => {
      this._request("ping", {}).catch(() => {});
      this._timers.pong = setTimeout(() => this._drop(4000, "no answer"), this._heartbeatMs);
    }, this._heartbeatMs);
  }

  // -- commands --------------------------------------------------------------------------

  // Fields that JSON cannot carry (a BigInt, a cycle) fail for good, not as "offline": the
  // outbox would wait for a reconnect that cannot help.
  _request(type, fields) {
    const id = `c${this._nextId++}`;
    return new Promise((resolve, reject) => {
      let text;
      try {
        text = JSON.stringify({ type, id, ...fields });
      } catch (error) {
        return reject(new ProtocolError("unserialisable", `${type}: ${error.message}`));
      }
      if (!this._socket) return reject(new ProtocolError("offline", "Not connected."));
      // First, so a throw leaves no timer behind; a socket that cannot take it is as good as
      // lost, and the outbox sends it again once connected.
      try { this._socket.send(text); } catch { return reject(new ProtocolError("disconnected", "The connection was lost.")); }
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new ProtocolError("timeout", `No answer to ${type}.`));
      }, this._commandTimeout);
      this._pending.set(id, { resolve, reject, timer });
    });
  }

  _answer(frame) {
    const pending = this._pending.get(frame.id);
    this._pending.delete(frame.id);
    clearTimeout(pending.timer);
    if (frame.type === "error") pending.reject(new ProtocolError(frame.code, frame.message, frame));
    else pending.resolve(frame);
  }

  _failPending(code) {
    for (const [id, pending] of this._pending) {
      clearTimeout(pending.timer);
      pending.reject(new ProtocolError(code, "The connection was lost."));
      this._pending.delete(id);
    }
    this._outbox.lost();
  }

  // -- the access token ------------------------------------------------------------------

  // A socket is closed (4001) when the token it opened with expires, and a renewed cookie
  // does not extend an open socket: so renew a little before expiry, then reconnect at once
  // and resume, which loses nothing.
  _scheduleRefresh() {
    this._clear("refresh");
    if (!this._tokenExpiresAt || !this._wanted) return;
    const left = this._tokenExpiresAt - this._now();
    const margin = Math.min(60000, Math.max(1000, left / 4));
    const wait = Math.max(0, left - margin - this._random() * margin / 2);
    this._timers.refresh = setTimeout(() => this._renewThenReconnect(), wait);
  }

  _renewThenReconnect() {
    if (this._renewal) return this._renewal;
    const renewal = this._renew().finally(() => { if (this._renewal === renewal) this._renewal = null; });
    return (this._renewal = renewal);
  }

  async _renew() {
    this._clear("refresh");
    const generation = this._generation;
    let expiresAt;
    try {
      expiresAt = await this._refresh();
    } catch (error) {
      if (generation !== this._generation) return;  // stopped meanwhile (and maybe restarted)
      if (error.code === "refresh_token_rotated") {  // another tab renewed the cookie first
        this._scheduleReconnect("session renewed elsewhere");
        return;
      }
      if (error instanceof ProtocolError && error.code !== "offline" && !error.code.startsWith("http_5")) {
        this._stop("signed out", "Signed out.");
        this.emit("signedOut", { code: error.code });
        return;
      }
      this._scheduleReconnect("cannot renew the session yet");  // network: try again later
      return;
    }
    if (generation !== this._generation) return;
    this._tokenExpiresAt = expiresAt;
    this._scheduleRefresh();
    this.emit("renewed", { expiresAt: this._tokenExpiresAt });
    this._reconnectNow("session renewed");
  }

  // -- plumbing --------------------------------------------------------------------------

  /** Stopped for good (`disconnect()`, a final close, signed out): nothing waits on a timer
   *  or an answer, and every pending command and send rejects with "disconnected". The kept
   *  copy of the sends stays as it was: a page that comes back sends them again. */
  _stop(reason, message, closeReason = reason) {
    this._wanted = false;
    this._stopped = message;
    this._generation += 1;
    this._renewal = null;
    this._window?.removeEventListener("online", this._onOnline);
    this._window?.removeEventListener("offline", this._onOffline);
    this._closeSocket(1000, closeReason);
    this._clearTimers();
    this._failPending("disconnected");
    this._outbox.rejectAll(new ProtocolError("disconnected", message));
    this._setState(State.DISCONNECTED, reason);
  }

  _setState(state, reason, retryIn = null) {
    const previous = this.state;
    this.state = state;
    this.emit("state", { state, previous, reason, retryIn });
  }

  _clearTimers() {
    for (const name of Object.keys(this._timers)) this._clear(name);
    this._outbox.stopTimers();
  }

  _clear(name) {
    if (this._timers[name] != null) clearTimeout(this._timers[name]);
    this._timers[name] = null;
  }
}
