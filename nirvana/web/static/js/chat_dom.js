// Building the chat's DOM from data. Everything a user wrote goes in as text (textContent or
// text nodes), never as markup; links and images take only http(s) or same-site paths.

/** An element: h("li", {class: "x", text: "..."}, child, "text child", ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** `url` when it is http(s) or a path on this site; null for anything else (javascript:…). */
export function safeUrl(url) {
  if (typeof url !== "string" || !url) return null;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });

export function shortTime(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const today = new Date();
  return at.toDateString() === today.toDateString() ? timeFormat.format(at) : dayFormat.format(at);
}

export function lastSeenText(presence) {
  if (!presence) return "";
  if (presence.state === "online") return "online";
  if (presence.state === "away") return "away";
  if (presence.state === "busy") return "busy";
  return presence.last_seen ? `last seen ${shortTime(presence.last_seen)}` : "offline";
}

/** What a message says in one line (the list's preview, a reply's quote). */
export function messagePreview(message) {
  if (!message) return "";
  if (message.deleted) return "Message deleted";
  if (message.text) return message.text;
  const attachments = message.attachments || [];
  if (attachments.some((a) => a.kind === "image")) return "Image";
  return attachments.length ? `File: ${attachments[0].name || "attachment"}` : "";
}

/** 1234567 → "1.2 MB" (decimal units, as the server's limits are written). */
export function humanBytes(n) {
  if (!Number.isFinite(n) || n < 1000) return `${n} bytes`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = n;
  let unit = "";
  for (unit of units) {
    value /= 1000;
    if (value < 1000) break;
  }
  return `${value.toFixed(1).replace(/\.0$/, "")} ${unit}`;
}

export function initial(name) {
  return (name || "?").trim().slice(0, 1).toUpperCase() || "?";
}

export function avatar(person) {
  const src = safeUrl(person?.avatar);
  if (src) return h("img", { class: "avatar", src, alt: "", width: 32, height: 32 });
  return h("span", { class: "avatar initial", "aria-hidden": "true", text: initial(person?.name) });
}

export function presenceDot(presence) {
  const state = presence?.state || "offline";
  return h("span", { class: `dot ${state}`, title: state, "aria-hidden": "true" });
}
