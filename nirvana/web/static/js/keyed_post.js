// POSTs that create something, sent with an Idempotency-Key (README, "Retrying a write") and
// retried once: the editor's and the chat's uploads share this one way of doing it.

import { newClientId } from "./protocol_base.js";

/** POST `body` to `url` with a key of its own, or `key` (a user's retry of a POST that got
 *  no answer passes that POST's key). A 503 or a dropped connection may come after the server
 *  stored it: the one retry, a second later, sends the same key, so it answers what was
 *  stored instead of storing a second copy. Any other answer is returned as is; a dropped
 *  connection on the retry too rejects (a TypeError, as fetch does). */
export async function postOnce(url, body, key = newClientId()) {
  const options = { method: "POST", body, credentials: "same-origin",
                    headers: { "Idempotency-Key": key } };
  try {
    const response = await fetch(url, options);
    if (response.status !== 503) return response;
  } catch (err) { /* retried below */ }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return fetch(url, options);
}
