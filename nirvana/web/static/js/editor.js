// The blog editor's extras on top of its plain form: a live preview rendered by the server,
// images and videos uploaded by picking or dropping a file, and place suggestions as you type.
// A module (strict, deferred), for the upload helper it shares with the chat.
import { postOnce } from "./keyed_post.js";
// Imported only by keyed_post.js: named here too, so the browser asks for it in the same round.
import "./protocol_base.js";

(function () {
  const form = document.getElementById("editor");
  if (!form) return;
  const body = form.querySelector("#f-body");
  const preview = document.getElementById("preview");
  const status = document.getElementById("upload-status");
  keepKeyOverBack(form);

  function debounce(fn, ms) {
    let timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  // The preview HTML comes from our own Markdown renderer (raw HTML off), as on the blog page.
  const refresh = debounce(async function () {
    const data = new URLSearchParams({ body: body.value });
    try {
      const response = await fetch(form.dataset.preview, { method: "POST", body: data,
                                                           credentials: "same-origin" });
      if (response.ok) preview.innerHTML = await response.text();
    } catch (err) { /* offline: the preview catches up on the next keystroke */ }
  }, 250);
  body.addEventListener("input", refresh);

  // Leaving with unsaved changes (a reload, a closed tab, a link) asks first. A warning, not a
  // copy kept in the browser: nothing of a user's text stays behind on a shared computer,
  // and a kept copy of an existing blog could go stale against the version on the server.
  // Shown again after an error or a conflict, the form holds text the server did not store.
  let changed = "unsaved" in form.dataset;
  form.addEventListener("input", function () { changed = true; });
  form.addEventListener("submit", function () { changed = false; });
  // A link whose notice already says the text is lost (the conflict's reload) asks no more.
  document.querySelectorAll("[data-discards]").forEach(function (link) {
    link.addEventListener("click", function () { changed = false; });
  });
  window.addEventListener("beforeunload", function (event) {
    if (!changed) return;
    event.preventDefault();
    event.returnValue = "";  // older browsers show the prompt only when this is set
  });

  function insertAtCursor(text) {
    const start = body.selectionStart, end = body.selectionEnd;
    body.value = body.value.slice(0, start) + text + body.value.slice(end);
    body.selectionStart = body.selectionEnd = start + text.length;
    // Bubbling, so the form sees it too: a dropped image is an unsaved change.
    body.dispatchEvent(new Event("input", { bubbles: true }));
  }

  async function upload(file) {
    status.textContent = "Uploading " + file.name + "…";
    const data = new FormData();
    data.append("file", file);
    // The declared type only picks the route; the server judges the bytes either way.
    const video = file.type.startsWith("video/");
    try {
      // A key per picked file, and one retry with it after a 503 or a dropped connection.
      const response = await postOnce(video ? "/api/v1/media/upload?kind=video"
                                            : "/api/v1/image/upload", data);
      const answer = await response.json();
      if (!response.ok) { status.textContent = answer.error.message; return; }
      const alt = file.name.replace(/\.[^.]+$/, "").replace(/[\[\]]/g, "");
      // A video is written as an image of it: the blog page shows it as a player.
      insertAtCursor("\n![" + alt + "](" + answer.url + ")\n");
      const header = form.querySelector("#f-header_image");
      if (header && !header.value && !video) {
        header.value = answer.url;
        header.dispatchEvent(new Event("input", { bubbles: true }));
      }
      status.textContent = "Added " + file.name + ".";
    } catch (err) {
      status.textContent = "The upload failed; check your connection and try again.";
    }
  }

  const picker = document.getElementById("f-image");
  picker.addEventListener("change", function () {
    for (const file of picker.files) upload(file);
    picker.value = "";
  });
  const zone = document.getElementById("dropzone");
  for (const target of [zone, body]) {
    target.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
    target.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    target.addEventListener("drop", function (e) {
      zone.classList.remove("over");
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      e.preventDefault();
      for (const file of e.dataTransfer.files) upload(file);
    });
  }

  // Place suggestions: known locations whose city or country starts with what is typed.
  const city = form.querySelector("#f-city"), country = form.querySelector("#f-country");
  const places = document.getElementById("places");
  let found = [];
  city.setAttribute("list", "places");
  const suggest = debounce(async function () {
    const q = city.value.trim();
    if (q.length < 2) return;
    try {
      const response = await fetch("/api/v1/locations?" + new URLSearchParams({ q: q, limit: 8 }));
      if (!response.ok) return;
      found = (await response.json()).locations;
      places.replaceChildren(...found.map(function (loc) {
        const option = document.createElement("option");
        option.value = loc.city;
        option.label = loc.city + ", " + loc.country;
        return option;
      }));
    } catch (err) { /* suggestions are a convenience */ }
  }, 200);
  city.addEventListener("input", function () {
    const match = found.find(function (loc) { return loc.city === city.value; });
    if (match && !country.value) country.value = match.country;
    suggest();
  });
})();

/** Back to the new-blog page after its POST landed, when the browser's copy of the page is
 *  gone (editor.html says why it is kept), fetches it again with a new key, and the browser
 *  puts back the typed text but not the key (Chromium restores no type=hidden value the
 *  server wrote): sent again, that text would be a second blog. So each submit keeps
 *  its key with what it sent in the tab's sessionStorage, and a submit from a page reached by
 *  Back or Forward that sends exactly that again takes that key, landing on the first blog
 *  (README, "Retrying a write"). Checked at the submit, not on load: the browser restores the
 *  text after this script has run. A page opened anew never reuses a key, even for the same text.
 *  Only a digest of the fields is kept, not the text (docs/web-client.md). */
function keepKeyOverBack(form) {
  const key = form.elements.namedItem("idempotency_key");
  if (!key) return;  // the edit form: no key
  const name = "nirvana.formKey:" + form.getAttribute("action");
  const [entry] = performance.getEntriesByType("navigation");
  const returned = entry && entry.type === "back_forward";
  form.addEventListener("submit", function (event) {
    // With the button pressed (Publish, Schedule, Save as draft): its status is sent too.
    const data = new FormData(form, event.submitter);
    data.delete("idempotency_key");
    const sent = digest(JSON.stringify(Array.from(data.entries(),
                                                  ([field, value]) => [field, String(value)])));
    try {
      const kept = JSON.parse(sessionStorage.getItem(name) || "null");
      if (returned && kept && kept.sent === sent) key.value = kept.key;
      sessionStorage.setItem(name, JSON.stringify({ key: key.value, sent }));
    } catch (err) { /* no storage (a policy, a full quota): the form as rendered */ }
  });
}

/** A 53-bit digest of a string (cyrb53), not crypto.subtle: that needs a secure context. Only
 *  for telling one sent form from another; the server checks the real fingerprint anyway, so
 *  a collision is a 409 "already sent with other text", never a wrong blog. */
function digest(text) {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}
