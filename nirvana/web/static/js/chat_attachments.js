// Attaching files, picked or dropped on the open conversation: each is uploaded, then sent
// as a message of its own.

import { $, current } from "./chat_state.js";
import { dispatch, submitComposer } from "./chat_composer.js";
import { postOnce } from "./keyed_post.js";

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
  attaching = attaching.then(() => uploadAndSend(files, target));
  return attaching;
}

async function uploadAndSend(files, target) {
  const note = $("attachment-note");
  for (const file of files) {
    note.hidden = false;
    note.textContent = `Uploading ${file.name}…`;
    const form = new FormData();
    form.append("file", file);
    try {
      // A key per file, and one retry with it after a 503 or a dropped connection: a
      // retry whose first attempt was stored answers that upload, never a second copy.
      const response = await postOnce("/api/v1/media/upload", form);
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error?.message || `The server answered ${response.status}.`);
      note.hidden = true;
      // The name the server kept, cleaned; null when nothing showable was left, and then
      // the attachment has none (the raw name could hold a control character the send refuses).
      const attachments = [{ url: data.url, kind: data.kind, name: data.original_name ?? null, size: data.size }];
      if (current === target) await submitComposer(attachments);
      else dispatch({ conversation_id: target, text: "", attachments, kind: data.kind });
    } catch (error) {
      note.textContent = `${file.name} was not attached: ${error.message}`;
      return;
    }
  }
}
