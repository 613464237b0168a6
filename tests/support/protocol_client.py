"""A page of the site with the reference protocol client (nirvana/web/static/js/protocol.js)
loaded against a scripted socket, for tests/browser/test_protocol_client*.py: `window.t`
holds the module and the helpers below."""

from __future__ import annotations

# A page of the site (its CSP applies) loads the module; `FakeSocket` plays the server, and
# every timer the client starts is tracked, so a test can see that none is left behind.
# `connected()` is a client past a first `hello` on a fresh scripted socket; `stops` are the
# three ways a client stops for good (a final close, a refused renewal, `disconnect()`).
HARNESS = """
async () => {
  const m = await import("/static/js/protocol.js");
  const live = new Set();
  const realSet = window.setTimeout.bind(window), realClear = window.clearTimeout.bind(window);
  window.setTimeout = (fn, ms) => { const id = realSet(() => { live.delete(id); fn(); }, ms); live.add(id); return id; };
  window.clearTimeout = (id) => { live.delete(id); realClear(id); };
  class FakeSocket {
    static all = [];
    constructor(url) { this.url = url; this.sent = []; FakeSocket.all.push(this); }
    send(text) { this.sent.push(JSON.parse(text)); }
    close(code) { this.closedWith = code; }
    serve(frame) { this.onmessage({ data: JSON.stringify(frame) }); }
    drop(code = 1006) { this.closedWith = code; this.onclose({ code, reason: "" }); }
  }
  const store = { pos: null, load() { return this.pos; }, save(pos) { this.pos = pos; } };
  const events = [];
  const wait = (ms) => new Promise((resolve) => realSet(resolve, ms));
  const make = (options = {}) => {
    const client = new m.ChatClient({ url: "ws://test/ws", position: store, WebSocketImpl: FakeSocket,
      backoff: { min: 5, max: 10 }, window: null, ...options });
    for (const type of ["state", "ready", "newMessage", "signedOut", "renewed"]) {
      client.on(type, (e) => events.push([type, "recovered" in e ? e.recovered :
        e.state || e.message?.text || e.code || null]));
    }
    return client;
  };
  const hello = { type: "hello", user_id: 7, limits: {}, heartbeat_seconds: 20, head: 5 };
  const connected = (options = {}) => {
    store.pos = null;                           // a first connection: ready on hello
    const client = make(options);
    client.connect();
    const socket = FakeSocket.all.at(-1);
    socket.serve(hello);
    return { client, socket };
  };
  const sends = (socket) => socket.sent.filter((f) => f.type === "send");
  const outcome = (done) => done.then(() => "acked", (e) => e.code);
  const settled = (promises, ms = 500) =>
    Promise.race([Promise.all(promises), wait(ms).then(() => "unsettled")]);
  const keptStore = () => ({ list: [], load() { return [...this.list]; },
                             save(list) { this.list = [...list]; } });
  const refused = async () => { throw new m.ProtocolError("invalid_refresh_token", "gone"); };
  const stops = {
    closed: [{}, () => FakeSocket.all.at(-1).drop(1008)],
    signedOut: [{ refresh: refused }, () => FakeSocket.all.at(-1).drop(4001)],
    stopped: [{}, (client) => client.disconnect()],
  };
  window.t = { m, live, FakeSocket, store, events, wait, make, hello, connected, sends, outcome,
               settled, keptStore, stops };
}
"""


async def scripted_client_page(site):
    """A new page of the site (its CSP applies) with the harness in `window.t`."""
    page = await site.new_page()
    await page.goto("/")
    await page.evaluate(HARNESS)
    return page
