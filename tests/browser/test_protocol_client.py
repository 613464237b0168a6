"""The reference protocol client (nirvana/web/static/js/protocol.js) run in Chromium against a
scripted socket: its state machine, resume, send retries and timers, without a server's timing."""

from __future__ import annotations

import pytest

# A page of the site (its CSP applies) loads the module; `FakeSocket` plays the server, and
# every timer the client starts is tracked, so a test can see that none is left behind.
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
  window.t = { m, live, FakeSocket, store, events, wait, make, hello };
}
"""


@pytest.fixture
async def page(site):
    page = await site.new_page()
    await page.goto("/")
    await page.evaluate(HARNESS)
    return page


async def test_it_resumes_from_its_position_drops_repeats_and_resends_with_the_same_client_id(
        page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, store, events, wait, make, hello } = window.t;
      const client = make();
      client.connect();
      const first = FakeSocket.all[0];
      first.serve(hello);                       // a first connection: the position is head
      const { clientId, done } = client.send({ conversation_id: "c1", text: "hi" });
      const sentFirst = first.sent.at(-1);
      first.drop();                              // lost before the ack
      await wait(30);                            // the backoff (5-10 ms here) passes
      const second = FakeSocket.all[1];
      second.serve(hello);
      second.serve({ type: "newMessage", pos: 6, message: { text: "missed" } });
      second.serve({ type: "newMessage", pos: 6, message: { text: "missed" } });
      second.serve({ type: "newMessage", pos: 4, message: { text: "old" } });
      const beforeResumed = second.sent.length;
      second.serve({ type: "resumed", head: 6 });
      const resent = second.sent.at(-1);
      second.serve({ type: "ack", id: resent.id, duplicate: true, message: { seq: 1 } });
      const ack = await done;
      client.disconnect();
      return { url: second.url, sentFirst, resent, beforeResumed, ack, pos: store.pos, events,
               unsent: client.unsent(), clientId };
    }""")
    assert result["url"] == "ws://test/ws?since=5"
    assert result["beforeResumed"] == 0  # nothing is sent before the replay is over
    assert result["resent"]["client_id"] == result["sentFirst"]["client_id"] == result["clientId"]
    assert result["resent"]["id"] != result["sentFirst"]["id"]
    assert result["ack"]["duplicate"] is True and result["unsent"] == []
    assert result["pos"] == 6
    assert [e for e in result["events"] if e[0] == "newMessage"] == [["newMessage", "missed"]]
    states = [e[1] for e in result["events"] if e[0] == "state"]
    assert states == ["connecting", "connected", "connecting", "connecting", "connected",
                      "disconnected"]


async def test_a_gap_too_old_to_replay_says_not_recovered(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, store, events, make, hello } = window.t;
      store.pos = 3;
      const client = make();
      client.connect();
      FakeSocket.all[0].serve(hello);
      FakeSocket.all[0].serve({ type: "resync_required", head: 900, reason: "pruned" });
      client.disconnect();
      return { pos: store.pos, ready: events.filter((e) => e[0] === "ready") };
    }""")
    assert result["pos"] == 900
    assert result["ready"] == [["ready", False]]


async def test_disconnect_leaves_no_timer_and_fails_what_is_pending(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, live, make, hello, wait } = window.t;
      const client = make({ tokenExpiresAt: Date.now() + 600000, refresh: async () => Date.now() + 600000,
                            backoff: { min: 5000, max: 10000 } });
      client.connect();
      FakeSocket.all[0].serve(hello);
      const command = client.command("conversations").catch((e) => e.code);
      const { done } = client.send({ conversation_id: "c1", text: "hi" });
      const sendResult = done.catch((e) => e.code);
      const send = FakeSocket.all[0].sent.at(-1);  // refused for now: retried later, same id
      FakeSocket.all[0].serve({ type: "error", id: send.id, code: "unavailable", message: "down" });
      await wait(0);
      const armed = live.size;                  // heartbeat, refresh and command timeouts
      client.disconnect();
      const left = live.size;
      FakeSocket.all[0].drop();                 // a late close of the old socket changes nothing
      await wait(30);
      return { armed, left, afterDrop: live.size, sockets: FakeSocket.all.length,
               command: await command, send: await sendResult, state: client.state };
    }""")
    assert result["armed"] >= 4  # heartbeat, renewal, the command's answer, the send's retry
    assert result["left"] == 0 and result["afterDrop"] == 0
    assert result["sockets"] == 1
    assert result["command"] == "disconnected" and result["send"] == "disconnected"
    assert result["state"] == "disconnected"


async def test_an_expired_token_is_renewed_and_a_refused_renewal_signs_out(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, live, events, make, hello, m, wait } = window.t;
      let renewals = 0;
      const client = make({ refresh: async () => {
        renewals += 1;
        if (renewals > 1) throw new m.ProtocolError("invalid_refresh_token", "gone");
        return Date.now() + 600000;
      } });
      client.connect();
      FakeSocket.all[0].serve(hello);
      FakeSocket.all[0].drop(4001);             // token expired: renew, reconnect at once
      await wait(0);
      const reopened = FakeSocket.all.length;
      FakeSocket.all[1].serve(hello);
      FakeSocket.all[1].drop(4001);             // revoked: the renewal is refused
      await wait(0);
      return { reopened, renewals, state: client.state, timers: live.size,
               signedOut: events.filter((e) => e[0] === "signedOut") };
    }""")
    assert result["reopened"] == 2 and result["renewals"] == 2
    assert result["state"] == "disconnected" and result["timers"] == 0
    assert result["signedOut"] == [["signedOut", "invalid_refresh_token"]]


async def test_an_expiry_during_a_renewal_joins_it_one_renewal_one_new_socket(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, make, hello, wait } = window.t;
      let renewals = 0, finish;
      const client = make({ tokenExpiresAt: Date.now() + 50,
        refresh: () => { renewals += 1; return new Promise((resolve) => { finish = resolve; }); } });
      client.connect();
      FakeSocket.all[0].serve(hello);
      await wait(60);                           // the planned renewal starts and waits
      FakeSocket.all[0].drop(4001);             // meanwhile the server closes the old socket
      finish(Date.now() + 600000);
      await wait(0);
      const open = FakeSocket.all.filter((s) => s.closedWith === undefined).length;
      client.disconnect();
      return { renewals, sockets: FakeSocket.all.length, open };
    }""")
    assert result == {"renewals": 1, "sockets": 2, "open": 1}


async def test_backoff_grows_with_jitter_and_stays_under_its_cap(page):
    delays = await page.evaluate("""() => {
      const { backoffDelay } = window.t.m;
      return [0, 1, 2, 3, 10, 40].map((n) => [backoffDelay(n, { min: 500, max: 20000 }, () => 0),
                                             backoffDelay(n, { min: 500, max: 20000 }, () => 1)]);
    }""")
    assert delays == [[250, 500], [500, 1000], [1000, 2000], [2000, 4000], [10000, 20000],
                      [10000, 20000]]


async def test_the_module_still_exports_every_name_the_docs_give_it(page):
    # docs/protocol.md imports these from protocol.js; some live in modules of their own
    # (emitter.js, protocol_storage.js), so protocol.js must keep exporting them.
    names = await page.evaluate("() => Object.keys(window.t.m).sort()")
    assert set(names) >= {"ChatClient", "Emitter", "ProtocolError", "State", "backoffDelay",
                          "forgetKeptSends", "keptSends", "newClientId", "refreshCookieSession",
                          "reportLater", "sessionPosition"}


async def test_a_conversations_sends_go_one_at_a_time_in_order_and_a_retry_goes_first(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, make, hello, wait } = window.t;
      const client = make();
      client.connect();
      const socket = FakeSocket.all[0];
      socket.serve(hello);
      const sends = () => socket.sent.filter((f) => f.type === "send").map((f) => f.text);
      const last = () => socket.sent.filter((f) => f.type === "send").at(-1);
      const results = ["a", "b", "c", "d"].map((text) =>
        client.send({ conversation_id: "c1", text }).done.then(() => "acked", (e) => e.code));
      const first = sends();                         // only the head is on the wire
      socket.serve({ type: "ack", id: last().id, message: { seq: 1 } });
      await wait(0);
      const afterAck = sends();
      const refused = last();                        // b: refused for now, retried first
      socket.serve({ type: "error", id: refused.id, code: "unavailable", message: "down" });
      await wait(30);
      const afterRetry = sends();
      const retried = last();
      socket.serve({ type: "ack", id: retried.id, message: { seq: 2 } });
      await wait(0);                                 // c: refused for good, d goes on
      socket.serve({ type: "error", id: last().id, code: "validation_error", message: "no" });
      await wait(0);
      socket.serve({ type: "ack", id: last().id, message: { seq: 3 } });
      const outcomes = await Promise.race([Promise.all(results), wait(500).then(() => "unanswered")]);
      client.disconnect();
      return { first, afterAck, afterRetry, sameId: retried.client_id === refused.client_id,
               all: sends(), outcomes };
    }""")
    assert result["first"] == ["a"]
    assert result["afterAck"] == ["a", "b"]
    assert result["afterRetry"] == ["a", "b", "b"] and result["sameId"]
    assert result["all"] == ["a", "b", "b", "c", "d"]
    assert result["outcomes"] == ["acked", "acked", "validation_error", "acked"]


async def test_conversations_do_not_wait_for_each_other_and_heads_go_again_in_order(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, make, hello, wait } = window.t;
      const client = make();
      client.connect();
      FakeSocket.all[0].serve(hello);
      const sends = (s) => s.sent.filter((f) => f.type === "send").map((f) => f.text);
      for (const [conversation_id, text] of [["c1", "a1"], ["c2", "b1"], ["c1", "a2"], ["c2", "b2"]]) {
        client.send({ conversation_id, text }).done.catch(() => {});  // rejected by disconnect()
      }
      const before = sends(FakeSocket.all[0]);       // each conversation's head, at once
      const unsent = client.unsent().length;
      FakeSocket.all[0].drop();                      // lost before either ack
      await wait(30);
      const second = FakeSocket.all[1];
      second.serve(hello);
      second.serve({ type: "resumed", head: 5 });    // the replay is over: ready
      const resent = sends(second);
      const b1 = second.sent.find((f) => f.text === "b1");
      second.serve({ type: "ack", id: b1.id, message: { seq: 1 } });
      await wait(0);                                 // c2 goes on while c1 still waits
      const after = sends(second);
      client.disconnect();
      return { before, unsent, resent, after };
    }""")
    assert result["before"] == ["a1", "b1"] and result["unsent"] == 4
    assert result["resent"] == ["a1", "b1"]
    assert result["after"] == ["a1", "b1", "b2"]


async def test_disconnect_rejects_every_waiting_send_of_every_conversation(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, make, hello, wait } = window.t;
      const client = make();
      client.connect();
      FakeSocket.all[0].serve(hello);
      const outcomes = [["c1", "a1"], ["c1", "a2"], ["c1", "a3"], ["c2", "b1"], ["c2", "b2"]].map(
        ([conversation_id, text]) => client.send({ conversation_id, text }).done.then(
          () => "acked", (e) => e.code));
      client.disconnect();
      const settled = await Promise.race([Promise.all(outcomes), wait(500).then(() => "unsettled")]);
      return { settled, unsent: client.unsent() };
    }""")
    assert result["settled"] == ["disconnected"] * 5
    assert result["unsent"] == []


async def test_a_send_unanswered_in_time_goes_again_with_its_client_id_before_the_next(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, make, hello, wait } = window.t;
      const client = make({ commandTimeout: 50 });
      client.connect();
      const socket = FakeSocket.all[0];
      socket.serve(hello);
      const sends = () => socket.sent.filter((f) => f.type === "send");
      const a = client.send({ conversation_id: "c1", text: "a" }).done.then(() => "acked", (e) => e.code);
      client.send({ conversation_id: "c1", text: "b" }).done.catch(() => {});
      // No answer: the local timeout, then the retry's backoff; the retry is answered at once.
      for (let i = 0; i < 500 && sends().length < 2; i++) await wait(2);
      const texts = sends().map((f) => f.text);
      const ids = sends().filter((f) => f.text === "a").map((f) => f.client_id);
      socket.serve({ type: "ack", id: sends().at(-1).id, duplicate: true, message: { seq: 1 } });
      const outcome = await Promise.race([a, wait(1000).then(() => "unsettled")]);
      await wait(0);
      const next = sends().at(-1).text;
      client.disconnect();
      return { texts, ids, outcome, next };
    }""")
    assert result["texts"] == ["a", "a"]
    assert len(set(result["ids"])) == 1
    assert result["outcome"] == "acked" and result["next"] == "b"


async def test_a_client_id_already_waiting_is_that_same_send(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, make, hello, wait } = window.t;
      const client = make();
      client.connect();
      const socket = FakeSocket.all[0];
      socket.serve(hello);
      const sends = () => socket.sent.filter((f) => f.type === "send");
      const first = client.send({ conversation_id: "c1", text: "a", client_id: "k1" });
      const again = client.send({ conversation_id: "c1", text: "a", client_id: "k1" });
      const unsent = client.unsent();
      socket.serve({ type: "ack", id: sends()[0].id, message: { seq: 1 } });
      const acks = await Promise.race([Promise.all([first.done, again.done]), wait(1000).then(() => [1, 2])]);
      await wait(0);
      const frames = sends().length;
      client.disconnect();
      return { unsent, frames, same: acks[0] === acks[1], ids: [first.clientId, again.clientId] };
    }""")
    assert result["unsent"] == ["k1"]
    assert result["frames"] == 1 and result["same"]
    assert result["ids"] == ["k1", "k1"]


async def test_a_final_close_or_a_refused_renewal_settles_every_waiting_send(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, live, make, hello, m, store, wait } = window.t;
      const run = async (client, stop) => {
        store.pos = null;                       // a first connection: ready on hello
        client.connect();
        FakeSocket.all.at(-1).serve(hello);
        const outcomes = [["c1", "a1"], ["c1", "a2"], ["c2", "b1"]].map(([conversation_id, text]) =>
          client.send({ conversation_id, text }).done.then(() => "acked", (e) => e.code));
        const command = client.command("conversations").catch((e) => e.code);
        stop();
        const settled = await Promise.race([Promise.all([...outcomes, command]),
                                            wait(500).then(() => "unsettled")]);
        return { settled, unsent: client.unsent(), state: client.state, timers: live.size };
      };
      const closed = await run(make(), () => FakeSocket.all.at(-1).drop(1008));
      const refused = make({ refresh: async () => { throw new m.ProtocolError("invalid_refresh_token", "gone"); } });
      const signedOut = await run(refused, () => FakeSocket.all.at(-1).drop(4001));
      return { closed, signedOut };
    }""")
    for outcome in (result["closed"], result["signedOut"]):
        assert outcome["settled"] == ["disconnected"] * 4
        assert outcome["unsent"] == [] and outcome["state"] == "disconnected"
        assert outcome["timers"] == 0


async def test_an_answer_after_the_outbox_rejected_everything_changes_nothing(page):
    result = await page.evaluate("""async () => {
      const { wait } = window.t;
      const { Outbox } = await import("/static/js/protocol_outbox.js");
      const failures = [];
      window.addEventListener("unhandledrejection", (e) => failures.push(String(e.reason)));
      let answer;
      const outbox = new Outbox({ transmit: () => new Promise((resolve) => { answer = resolve; }),
                                  connected: () => true, retryDelay: () => 5 });
      const done = outbox.add({ conversation_id: "c1", client_id: "k1", text: "a" }).catch((e) => e);
      outbox.rejectAll(new Error("stopped"));
      answer({ type: "ack", message: { seq: 1 } });   // the late ack of the rejected send
      await wait(20);
      outbox.add({ conversation_id: "c1", client_id: "k2", text: "b" }).catch(() => {});
      return { rejected: (await done).message, failures, waiting: outbox.clientIds() };
    }""")
    assert result == {"rejected": "stopped", "failures": [], "waiting": ["k2"]}


async def test_a_send_after_the_client_stopped_fails_at_once_and_is_kept_with_the_rest(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, make, hello, m, store, wait } = window.t;
      const run = async (options, stop) => {
        const saved = [];
        const kept = { list: [], load() { return [...this.list]; },
                       save(list) { this.list = [...list]; saved.push(list.map((f) => f.text)); } };
        const client = make({ kept, ...options });
        store.pos = null;                       // a first connection: ready on hello
        client.connect();
        FakeSocket.all.at(-1).serve(hello);
        const a = client.send({ conversation_id: "c1", text: "a" });
        client.send({ conversation_id: "c1", text: "b" }).done.catch(() => {});
        a.done.catch(() => {});
        stop(client);
        await wait(0);
        const sockets = FakeSocket.all.length;
        // Try again on "a" (its own client id) and a new message, once stopped.
        const after = [client.send({ conversation_id: "c1", text: "a", client_id: a.clientId }),
                       client.send({ conversation_id: "c1", text: "c" })].map(({ done }) =>
          done.then(() => "acked", (e) => e.code));
        const settled = await Promise.race([Promise.all(after), wait(500).then(() => "unsettled")]);
        const keptTexts = kept.load().map((f) => f.text);
        const unsent = client.unsent();
        const newSockets = FakeSocket.all.length - sockets;
        store.pos = null;
        client.connect();                       // started again: a send waits for its ack
        FakeSocket.all.at(-1).serve(hello);
        const d = client.send({ conversation_id: "c1", text: "d" }).done.then(
          () => "acked", (e) => e.code);
        const waits = await Promise.race([d, wait(50).then(() => "waiting")]);
        const sent = FakeSocket.all.at(-1).sent.filter((f) => f.type === "send").map((f) => f.text);
        client.disconnect();
        await d;
        return { settled, keptTexts, unsent, newSockets, waits, sent };
      };
      const closed = await run({}, () => FakeSocket.all.at(-1).drop(1008));
      const signedOut = await run(
        { refresh: async () => { throw new m.ProtocolError("invalid_refresh_token", "gone"); } },
        () => FakeSocket.all.at(-1).drop(4001));
      const stopped = await run({}, (client) => client.disconnect());
      return { closed, signedOut, stopped };
    }""")
    for outcome in result.values():
        assert outcome["settled"] == ["disconnected", "disconnected"]
        assert outcome["keptTexts"] == ["a", "b", "c"]  # a reload sends all three, in order
        assert outcome["unsent"] == [] and outcome["newSockets"] == 0
        assert outcome["waits"] == "waiting" and outcome["sent"] == ["d"]
