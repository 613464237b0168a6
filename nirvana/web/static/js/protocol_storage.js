// What the protocol client (protocol.js) keeps in the tab's sessionStorage, per user: the
// last position it processed, and the sends not yet acknowledged (docs/protocol.md, "The
// reference client"). Never a token. protocol.js exports these too.

/** Where the last processed position lives: per user and per tab, so a reload resumes. */
export function sessionPosition(userId, storage = globalThis.sessionStorage) {
  const key = `nirvana.chat.pos.${userId}`;
  return {
    load() {
      const value = Number.parseInt(storage?.getItem(key) ?? "", 10);
      return Number.isSafeInteger(value) && value >= 0 ? value : null;
    },
    save(pos) { storage?.setItem(key, String(pos)); },
  };
}

/** Where unacknowledged sends live across a reload: per user and per tab, in sessionStorage
 *  like the position (never a token). The page resends them with their own client ids, so a
 *  send that did land before the reload is acknowledged as a duplicate, not stored twice.
 *  Sign-out clears it (the server's Clear-Site-Data, and `forgetKeptSends`). */
export function keptSends(userId, storage = globalThis.sessionStorage) {
  const key = `${KEPT_PREFIX}${userId}`;
  return {
    load() {
      try {
        const list = JSON.parse(storage?.getItem(key) || "[]");
        return Array.isArray(list) ? list.filter((f) => f && typeof f.client_id === "string") : [];
      } catch {
        return [];
      }
    },
    save(list) {
      try {
        if (list.length) storage?.setItem(key, JSON.stringify(list));
        else storage?.removeItem(key);
      } catch { /* storage full or refused: the sends still go, they just do not survive a reload */ }
    },
  };
}

const KEPT_PREFIX = "nirvana.chat.unsent.";

/** Forget every user's kept sends in this tab (on sign-out). */
export function forgetKeptSends(storage = globalThis.sessionStorage) {
  for (let i = (storage?.length ?? 0) - 1; i >= 0; i--) {
    const key = storage.key(i);
    if (key?.startsWith(KEPT_PREFIX)) storage.removeItem(key);
  }
}
