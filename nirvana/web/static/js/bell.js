// The header bell's live unread count. This script opens no socket of its own: a page that
// has one (the chat page) dispatches every server frame as a "nirvana:frame" event on
// window, and the bell follows `notification` and `notifications.unread` frames
// (docs/protocol.md, Notifications). Elsewhere the count is the one the server rendered.
// The server counts up to data-counted, which means that many or more: shown as "999+".
(function () {
  "use strict";
  var count = document.querySelector("[data-bell] [data-unread]");
  if (!count) return;
  var label = count.querySelector(".visually-hidden");
  var counted = Number(count.dataset.counted) || Infinity;
  window.addEventListener("nirvana:frame", function (event) {
    var frame = event.detail;
    if (!frame || (frame.type !== "notification" && frame.type !== "notifications.unread")) {
      return;
    }
    var unread = Number(frame.unread) || 0;
    count.dataset.unread = String(unread);
    count.firstChild.nodeValue = unread >= counted ? (counted - 1) + "+" : String(unread);
    if (label) count.appendChild(label);
    count.hidden = unread === 0;
  });
})();
