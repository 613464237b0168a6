// The protocol client's plain helpers (protocol.js; docs/protocol.md, "The reference
// client"): its rejection type, the cookie renewal, the reconnect backoff and random ids.
// Imports nothing; protocol.js exports these too.

/** An `error` frame (or a local failure such as "offline") as a rejection. */
export class ProtocolError extends Error {
  constructor(code, message, frame = null) {
    super(message || code);
    this.name = "ProtocolError";
    this.code = code;
    this.frame = frame;
  }
}

/** Renews the httpOnly session cookies; resolves to the new access expiry (ms since epoch).
 *  Rejects with a ProtocolError carrying the API's error code. */
export async function refreshCookieSession(fetchImpl = globalThis.fetch.bind(globalThis)) {
  const response = await fetchImpl("/api/v1/user/refresh", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: "{}",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.error || {};
    throw new ProtocolError(error.code || `http_${response.status}`, error.message);
  }
  return Date.parse(body.expires_at);
}

/** Exponential backoff with jitter: a delay between half and all of min·2^attempt, capped. */
export function backoffDelay(attempt, { min = 500, max = 20000 } = {}, random = Math.random) {
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + random() * ceiling / 2);
}

/** A new random id, 32 hex digits: a send's client id, and the Idempotency-Key of a POST
 *  that creates something (keyed_post.js, chat_groups.js). From crypto.getRandomValues, not
 *  crypto.randomUUID: that needs a secure context, and a small deployment may be served
 *  over plain HTTP. */
export function newClientId() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
