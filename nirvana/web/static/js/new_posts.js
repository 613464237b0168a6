// "N new posts" on the feed page: the page opens a socket with the protocol client
// (protocol.js) and counts `blog.published` frames (docs/protocol.md, New posts), each a
// blog by someone the reader follows. The button reloads the first page of the feed, where
// they are. Without JavaScript the page is the same feed, reloaded by hand.
import { ChatClient } from "./protocol.js";
// protocol.js's own imports, named here so they are asked for in the same round as it.
import "./emitter.js";
import "./protocol_base.js";
import "./protocol_outbox.js";
import "./protocol_storage.js";

const banner = document.querySelector("[data-new-posts]");
if (banner) {
  const link = banner.querySelector("a");
  const seen = new Set();
  // No resume: this page shows live posts only, it has no chat stream to catch up on.
  const client = new ChatClient({
    url: `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`,
    position: { load: () => null, save: () => {} },
  });
  client.on("*", (frame) => {
    window.dispatchEvent(new CustomEvent("nirvana:frame", { detail: frame }));  // the bell
  });
  client.on("blog.published", (frame) => {
    seen.add(frame.blog.id);
    const n = seen.size;
    link.textContent = n === 1 ? "1 new post" : `${n} new posts`;
    banner.hidden = false;
  });
  window.addEventListener("pagehide", () => client.disconnect());
  client.connect();
}
