// POSTs that create something, sent with an Idempotency-Key (README, "Retrying a write") and
// retried once: the editor's and the chat's uploads share this one way of doing it.

/** A new key. Not crypto.randomUUID: that needs a secure context, and a small deployment
 *  may be served over plain HTTP. */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** POST `body` to `url` with a key of its own. A 503 or a dropped connection may come after
 *  the server stored it: the one retry, a second later, sends the same key, so it answers
 *  what was stored instead of storing a second copy. Any other answer is returned as is. */
export async function postOnce(url, body) {
  const options = { method: "POST", body, credentials: "same-origin",
                    headers: { "Idempotency-Key": newKey() } };
  try {
    const response = await fetch(url, options);
    if (response.status !== 503) return response;
  } catch (err) { /* retried below */ }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return fetch(url, options);
}
