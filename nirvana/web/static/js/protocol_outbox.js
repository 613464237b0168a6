// The protocol client's sends not yet acknowledged (protocol.js; docs/protocol.md, "The
// reference client", Sends). A send refused and retried is stored when the retry is, after
// whatever was sent meanwhile: so the sends of one conversation go one at a time, in the
// order given, and the next goes only once the one before is acknowledged, refused for good
// or given up. Conversations do not wait for each other. Imports nothing: the client hands in how
// to transmit, whether it is connected, how long to wait before a retry, and the kept store.

// Errors after which the same send is retried with the same client id; "timeout" is the
// client's own (no answer in time): the server may have stored it, and a repeat is a duplicate.
const RETRY_ERRORS = new Set(["unavailable", "store_timeout", "rate_limited", "timeout"]);
// The connection went: the head goes again, first of its conversation, once the client is ready.
const LOST_ERRORS = new Set(["disconnected", "offline"]);
// The server failed (it then closes 1011): the send may or may not be stored, so it keeps its
// place and goes again after the reconnect, like a lost one; the client is told to reconnect,
// so the hold does not depend on that close. After this many such answers it is given up, so
// a send the server cannot handle does not hold its conversation for good.
const SERVER_FAULT = "internal_error";
const SERVER_FAULT_TRIES = 3;

export class Outbox {
  /**
   * @param {object} options
   * @param {(fields: object) => Promise<object>} options.transmit  sends one `send` command,
   *        resolves to its ack, rejects with a ProtocolError
   * @param {() => boolean} options.connected  whether a command can go now
   * @param {(attempt: number) => number} options.retryDelay  ms before retry number `attempt`
   *        when the error frame gives no `retry_after`
   * @param {() => void} [options.serverFault]  a head is held for a server fault: reconnect
   * @param {{load(): object[], save(list: object[]): void}|null} [options.kept]  written on
   *        every change
   */
  constructor({ transmit, connected, retryDelay, serverFault = () => {}, kept = null }) {
    this._transmit = transmit;
    this._connected = connected;
    this._retryDelay = retryDelay;
    this._serverFault = serverFault;
    this._kept = kept;
    this._parked = [];          // fields of sends a stop rejected, kept until sent again
    this._entries = new Map();  // client id → entry, in the order given
    this._queues = new Map();   // conversation id → its entries in order; the head may be in flight
  }

  /** Queue one send (fields include its `client_id`); resolves to the ack, rejects only for
   *  a refusal a retry cannot change. A client id already waiting is that same send. */
  add(fields) {
    const waiting = this._entries.get(fields.client_id);
    if (waiting) return waiting.done;
    const entry = { fields, request: null, retryTimer: null, attempt: 0, faults: 0, held: false };
    entry.done = new Promise((resolve, reject) => { entry.resolve = resolve; entry.reject = reject; });
    this._entries.set(fields.client_id, entry);
    const queue = this._queues.get(fields.conversation_id);
    if (queue) queue.push(entry);
    else this._queues.set(fields.conversation_id, [entry]);
    this._save();
    this._startHead(fields.conversation_id);
    return entry.done;
  }

  /** Client ids still waiting, in the order given. */
  clientIds() { return [...this._entries.keys()]; }

  /** Connected again: each conversation's head goes, in the order the heads were given. */
  resume() {
    for (const entry of this._entries.values()) {
      if (!this._isHead(entry)) continue;
      entry.held = false;
      this._startHead(entry.fields.conversation_id);
    }
  }

  /** The connection is gone: nothing is in flight any more (the answers will not come). */
  lost() {
    for (const entry of this._entries.values()) entry.request = null;
  }

  /** Clear the retry timers; what waits stays, and goes again on `resume()`. */
  stopTimers() {
    for (const entry of this._entries.values()) {
      clearTimeout(entry.retryTimer);
      entry.retryTimer = null;
    }
  }

  /** Reject every send with `error` and forget them (the kept copy stays as it was). */
  rejectAll(error) {
    this.stopTimers();
    const entries = [...this._entries.values()];
    this._entries.clear();
    this._queues.clear();
    for (const entry of entries) {
      entry.request = null;  // a late answer to it finds nothing to take out
      entry.reject(error);
    }
  }

  /** Keep a send that will not go now (the client stopped) after what is kept, without
   *  touching what waits: a page that comes back sends it with the rest. */
  keep(fields) {
    if (!this._kept) return;
    const list = this._kept.load();
    if (list.some((kept) => kept.client_id === fields.client_id)) return;  // Try again: kept
    this._kept.save([...list, fields]);
  }

  /** Started again after a stop: what the kept copy holds now (the rejected sends, and those
   *  made while stopped) stays in it, in its place before the new sends, until each is
   *  acknowledged or refused. */
  restart() {
    this._parked = this._kept ? this._kept.load() : [];
  }

  // A kept send sent again keeps its place in the copy, so a reload sends all in the order given.
  _save() {
    if (!this._kept) return;
    const parked = new Set(this._parked.map((fields) => fields.client_id));
    const waiting = [...this._entries.values()].filter((entry) => !parked.has(entry.fields.client_id));
    this._kept.save([...this._parked.map((fields) => this._entries.get(fields.client_id)?.fields ?? fields),
                     ...waiting.map((entry) => entry.fields)]);
  }

  _isHead(entry) {
    return this._queues.get(entry.fields.conversation_id)?.[0] === entry;
  }

  /** Send the conversation's head unless it is in flight, waiting to retry or for a
   *  reconnect, or offline. */
  _startHead(conversationId) {
    const entry = this._queues.get(conversationId)?.[0];
    if (!entry || entry.request || entry.held || entry.retryTimer != null || !this._connected()) return;
    const request = this._transmit(entry.fields);
    entry.request = request;
    request.then((ack) => {
      if (entry.request !== request) return;
      this._remove(entry);
      entry.resolve(ack);
    }, (error) => {
      if (entry.request !== request) return;  // lost with its connection, or rejected meanwhile
      entry.request = null;
      if (LOST_ERRORS.has(error.code)) return;  // on `resume()`
      if (error.code === SERVER_FAULT) {
        // Not on the socket the server is closing: on `resume()`, this one or, given up, the next.
        if (++entry.faults < SERVER_FAULT_TRIES) {
          entry.held = true;
        } else {
          this._remove(entry, true);
          entry.reject(error);
        }
        this._serverFault();
        return;
      }
      if (RETRY_ERRORS.has(error.code)) {
        const wait = (error.frame?.retry_after || 0) * 1000 || this._retryDelay(entry.attempt++);
        entry.retryTimer = setTimeout(() => {
          entry.retryTimer = null;
          this._startHead(conversationId);
        }, wait);
        return;
      }
      // Refused for good: it is not stored, so the ones behind it go on in their order.
      this._remove(entry);
      entry.reject(error);
    });
  }

  /** Take an answered head out, and send the next of its conversation (or, `holdNext`,
   *  leave it for `resume()`). */
  _remove(entry, holdNext = false) {
    const conversationId = entry.fields.conversation_id;
    this._entries.delete(entry.fields.client_id);
    this._parked = this._parked.filter((parked) => parked.client_id !== entry.fields.client_id);
    const queue = this._queues.get(conversationId);
    queue.shift();
    if (!queue.length) this._queues.delete(conversationId);
    else if (holdNext) queue[0].held = true;
    this._save();
    this._startHead(conversationId);
  }
}
