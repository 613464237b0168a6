// Attaching files, picked or dropped on the open conversation: each is uploaded, then sent
// as a message of its own.

import { $, current } from "./chat_state.js";
import { dispatch, submitComposer } from "./chat_composer.js";
import { h } from "./chat_dom.js";
import { postOnce } from "./keyed_post.js";
import { newClientId } from "./protocol_base.js";

// Files go out in the order they were picked or dropped: a second pick waits for the first
// one's uploads, or a small file dropped after a big one would arrive before it.
let attaching = Promise.resolve();

export function setUpAttachments() {
  $("attach").addEventListener("change", (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    attachFiles(files);
  });

  // Dropping files on the open conversation attaches them, as picking them does.
  $("conversation").addEventListener("dragover", (event) => {
    if (!event.dataTransfer?.types?.includes("Files")) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    $("conversation").classList.add("dropping");
  });
  $("conversation").addEventListener("dragleave", (event) => {
    if (event.target === $("conversation")) $("conversation").classList.remove("dropping");
  });
  $("conversation").addEventListener("drop", (event) => {
    if (!event.dataTransfer?.files?.length) return;
    event.preventDefault();
    $("conversation").classList.remove("dropping");
    attachFiles([...event.dataTransfer.files]);
  });
}

/** Upload each file (the server judges its kind by its bytes), then send each as a message,
 *  the first with the text in the composer. */
function attachFiles(files) {
  const target = current;  // where the files were dropped, even if another chat is opened meanwhile
  if (!files.length || !target) return attaching;
  // A key per file, and one retry with it after a 503 or a dropped connection (keyed_post.js):
  // a retry whose first attempt was stored answers that upload, never a second copy.
  const keys = files.map(() => newClientId());
  attaching = attaching.then(() => uploadAndSend(files, keys, target));
  return attaching;
}

/** The server did not answer (a dropped connection, or a 502-504: no instance, or one
 *  shutting down): the upload may be tried again as it was. Other refusals (too big, a kind
 *  not taken) would be refused again. */
class NoAnswer extends Error {}

async function uploadAndSend(files, keys, target) {
  const note = $("attachment-note");
  for (const [i, file] of files.entries()) {
    note.hidden = false;
    note.textContent = `Uploading ${file.name}…`;
    const form = new FormData();
    form.append("file", file);
    try {
      const response = await postOnce("/api/v1/media/upload", form, keys[i])
        .catch(() => { throw new NoAnswer(); });
      if ([502, 503, 504].includes(response.status)) throw new NoAnswer();
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error?.message || `The server answered ${response.status}.`);
      note.hidden = true;
      // The name the server kept, cleaned; null when nothing showable was left, and then
      // the attachment has none (the raw name could hold a control character the send refuses).
      const attachments = [{ url: data.url, kind: data.kind, name: data.original_name ?? null, size: data.size }];
      if (current === target) await submitComposer(attachments);
      else dispatch({ conversation_id: target, text: "", attachments, kind: data.kind });
    } catch (error) {
      if (!(error instanceof NoAnswer)) {
        note.textContent = `${file.name} was not attached: ${error.message}`;
        return;
      }
      // The page still holds the files: a retry sends this one with its key (stored once if
      // its first try landed after all), then the ones after it.
      const again = h("button", { type: "button", class: "button small", onclick: () => {
        note.textContent = "";
        attaching = attaching.then(() => uploadAndSend(files.slice(i), keys.slice(i), target));
      } }, "Send it again");
      note.replaceChildren(
        `${file.name} was not sent: the server did not answer. ` +
          "Send it again when the connection is back. ",
        again);
      return;
    }
  }
}
