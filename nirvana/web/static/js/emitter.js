// The protocol client's events (protocol.js): what it emits, and how a listener's error is
// reported without stopping the other listeners.

/** A small event emitter; one throwing listener does not stop the others. */
export class Emitter {
  constructor() { this._listeners = new Map(); }

  /** Calls `fn(payload)` on every `type` event ("*" gets every server frame); returns an
   *  unsubscribe function. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) { this._listeners.get(type)?.delete(fn); }

  emit(type, payload) {
    for (const fn of [...(this._listeners.get(type) || [])]) {
      try { fn(payload); } catch (error) { reportLater(error); }
    }
  }
}

/** Reports an error as uncaught, without breaking the caller's loop. */
export function reportLater(error) {
  setTimeout(() => { throw error; }, 0);
}
