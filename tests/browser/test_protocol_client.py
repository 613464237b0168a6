"""The reference protocol client (nirvana/web/static/js/protocol.js) run in Chromium against a
scripted socket: its state machine, resume, token renewal and timers, without a server's timing.
Its sends are in test_protocol_client_sends.py."""

from __future__ import annotations

import re

import pytest

from tests.support.protocol_client import scripted_client_page


@pytest.fixture
async def page(site):
    return await scripted_client_page(site)


async def test_it_resumes_from_its_position_drops_repeats_and_resends_with_the_same_client_id(
        page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, store, events, wait, connected, hello } = window.t;
      const { client, socket: first } = connected();  // a first connection: the position is head
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
      const { FakeSocket, live, connected, wait } = window.t;
      const { client } = connected({ tokenExpiresAt: Date.now() + 600000,
        refresh: async () => Date.now() + 600000, backoff: { min: 5000, max: 10000 } });
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
      const { FakeSocket, live, events, connected, hello, m, wait } = window.t;
      let renewals = 0;
      const { client } = connected({ refresh: async () => {
        renewals += 1;
        if (renewals > 1) throw new m.ProtocolError("invalid_refresh_token", "gone");
        return Date.now() + 600000;
      } });
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
      const { FakeSocket, connected, wait } = window.t;
      let renewals = 0, finish;
      const { client } = connected({ tokenExpiresAt: Date.now() + 50,
        refresh: () => { renewals += 1; return new Promise((resolve) => { finish = resolve; }); } });
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
    # (emitter.js, protocol_base.js, protocol_storage.js), so protocol.js must keep exporting them.
    names = await page.evaluate("() => Object.keys(window.t.m).sort()")
    assert set(names) >= {"ChatClient", "Emitter", "ProtocolError", "State", "backoffDelay",
                          "forgetKeptSends", "keptSends", "newClientId", "refreshCookieSession",
                          "reportLater", "sessionPosition"}


async def test_random_ids_need_no_secure_context(page):
    # Served over plain HTTP (not localhost) a page has no crypto.randomUUID; client ids and
    # Idempotency-Keys still come from crypto.getRandomValues, never Math.random.
    ids = await page.evaluate("""() => {
      Object.defineProperty(Crypto.prototype, "randomUUID", { value: undefined });
      return [window.t.m.newClientId(), window.t.m.newClientId()];
    }""")
    assert all(re.fullmatch("[0-9a-f]{32}", i) for i in ids) and ids[0] != ids[1]


async def test_a_renewal_under_way_when_the_client_stops_changes_nothing_after_a_restart(page):
    # Through the API: a planned renewal starts, disconnect(), connect(). The old renewal's
    # answer, a new cookie or a refusal, is for a session that is over.
    result = await page.evaluate("""async () => {
      const { FakeSocket, events, connected, hello, m, wait } = window.t;
      const run = async (answerTheOldOne) => {
        const renewals = [];
        const { client } = connected({ tokenExpiresAt: Date.now() + 50,
          refresh: () => new Promise((resolve, reject) => renewals.push({ resolve, reject })) });
        await wait(20);                         // the planned renewal starts and waits
        client.disconnect();
        client.connect();
        const fresh = FakeSocket.all.at(-1);
        fresh.serve(hello);
        fresh.serve({ type: "resumed", head: 5 });
        await wait(20);                         // the new session's own renewal starts
        const sockets = FakeSocket.all.length;
        answerTheOldOne(renewals[0]);
        await wait(20);
        const outcome = { renewals: renewals.length, newSockets: FakeSocket.all.length - sockets,
                          freshOpen: fresh.closedWith === undefined, state: client.state };
        fresh.drop(4001);                       // expired meanwhile: joins the new renewal
        await wait(20);
        outcome.renewalsAfter4001 = renewals.length;
        client.disconnect();
        return outcome;
      };
      const renewed = await run((old) => old.resolve(Date.now() + 600000));
      const refused = await run((old) => old.reject(new m.ProtocolError("invalid_refresh_token", "gone")));
      return { renewed, refused, signedOut: events.filter((e) => e[0] === "signedOut").length };
    }""")
    for outcome in (result["renewed"], result["refused"]):
        # The restarted session renews on its own (it does not join the old renewal), and the
        # old answer neither replaces its socket nor stops it. Settling, it does not take the
        # new renewal's place either: a 4001 then joins that one, it starts no third.
        assert outcome == {"renewals": 2, "newSockets": 0, "freshOpen": True, "state": "connected",
                           "renewalsAfter4001": 2}
    assert result["signedOut"] == 0


async def test_a_1013_from_an_instance_cut_off_from_the_chat_writer_is_retried_sooner(page):
    # Another instance may be the writer's and take the next socket (docs/protocol.md,
    # "Reconnecting"); any other 1013 (a store down, a writer changing) backs off further.
    result = await page.evaluate("""async () => {
      const { FakeSocket, connected } = window.t;
      const waits = {};
      for (const reason of ["The chat writer cannot be reached; reconnect later",
                            "PostgreSQL is unavailable; reconnect later",
                            "The chat writer changed; reconnect later"]) {
        const { client, socket } = connected({ backoff: { min: 1000, max: 100000 },
                                               random: () => 1 });
        client.on("state", (e) => { if (e.retryIn) waits[reason] = e.retryIn; });
        socket.closedWith = 1013;
        socket.onclose({ code: 1013, reason });
        client.disconnect();
      }
      return waits;
    }""")
    assert result == {"The chat writer cannot be reached; reconnect later": 1000,
                      "PostgreSQL is unavailable; reconnect later": 8000,
                      "The chat writer changed; reconnect later": 8000}
