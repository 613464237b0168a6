"""The reference protocol client's sends (nirvana/web/static/js/protocol_outbox.js, through
protocol.js) run in Chromium against a scripted socket: typed order, retries, stops and the
kept copy, without a server's timing."""

from __future__ import annotations

import pytest

from tests.support.protocol_client import scripted_client_page


@pytest.fixture
async def page(site):
    return await scripted_client_page(site)


async def test_a_conversations_sends_go_one_at_a_time_in_order_and_a_retry_goes_first(page):
    result = await page.evaluate("""async () => {
      const { connected, outcome, settled, wait } = window.t;
      const { client, socket } = connected();
      const sends = () => window.t.sends(socket).map((f) => f.text);
      const last = () => window.t.sends(socket).at(-1);
      const results = ["a", "b", "c", "d"].map((text) =>
        outcome(client.send({ conversation_id: "c1", text }).done));
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
      const outcomes = await settled(results);
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
      const { FakeSocket, connected, hello, wait } = window.t;
      const { client } = connected();
      const sends = (s) => window.t.sends(s).map((f) => f.text);
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
      const { connected, outcome, settled } = window.t;
      const { client } = connected();
      const outcomes = [["c1", "a1"], ["c1", "a2"], ["c1", "a3"], ["c2", "b1"], ["c2", "b2"]].map(
        ([conversation_id, text]) => outcome(client.send({ conversation_id, text }).done));
      client.disconnect();
      return { settled: await settled(outcomes), unsent: client.unsent() };
    }""")
    assert result["settled"] == ["disconnected"] * 5
    assert result["unsent"] == []


async def test_a_send_unanswered_in_time_goes_again_with_its_client_id_before_the_next(page):
    result = await page.evaluate("""async () => {
      const { connected, outcome, wait } = window.t;
      const { client, socket } = connected({ commandTimeout: 50 });
      const sends = () => window.t.sends(socket);
      const a = outcome(client.send({ conversation_id: "c1", text: "a" }).done);
      client.send({ conversation_id: "c1", text: "b" }).done.catch(() => {});
      // No answer: the local timeout, then the retry's backoff; the retry is answered at once.
      for (let i = 0; i < 500 && sends().length < 2; i++) await wait(2);
      const texts = sends().map((f) => f.text);
      const ids = sends().filter((f) => f.text === "a").map((f) => f.client_id);
      socket.serve({ type: "ack", id: sends().at(-1).id, duplicate: true, message: { seq: 1 } });
      const settledA = await Promise.race([a, wait(1000).then(() => "unsettled")]);
      await wait(0);
      const next = sends().at(-1).text;
      client.disconnect();
      return { texts, ids, outcome: settledA, next };
    }""")
    assert result["texts"] == ["a", "a"]
    assert len(set(result["ids"])) == 1
    assert result["outcome"] == "acked" and result["next"] == "b"


async def test_a_client_id_already_waiting_is_that_same_send(page):
    result = await page.evaluate("""async () => {
      const { connected, wait } = window.t;
      const { client, socket } = connected();
      const sends = () => window.t.sends(socket);
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
      const { live, connected, outcome, settled, stops } = window.t;
      const run = async ([options, stop]) => {
        const { client } = connected(options);
        const outcomes = [["c1", "a1"], ["c1", "a2"], ["c2", "b1"]].map(([conversation_id, text]) =>
          outcome(client.send({ conversation_id, text }).done));
        const command = client.command("conversations").catch((e) => e.code);
        stop(client);
        return { settled: await settled([...outcomes, command]), unsent: client.unsent(),
                 state: client.state, timers: live.size };
      };
      return { closed: await run(stops.closed), signedOut: await run(stops.signedOut) };
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
      const { FakeSocket, hello, store, wait, connected, outcome, settled, keptStore, stops } = window.t;
      const run = async ([options, stop]) => {
        const kept = keptStore();
        const { client } = connected({ kept, ...options });
        const a = client.send({ conversation_id: "c1", text: "a" });
        client.send({ conversation_id: "c1", text: "b" }).done.catch(() => {});
        a.done.catch(() => {});
        stop(client);
        await wait(0);
        const sockets = FakeSocket.all.length;
        // Try again on "a" (its own client id) and a new message, once stopped.
        const after = [client.send({ conversation_id: "c1", text: "a", client_id: a.clientId }),
                       client.send({ conversation_id: "c1", text: "c" })].map(({ done }) => outcome(done));
        const afterSettled = await settled(after);
        const keptTexts = kept.load().map((f) => f.text);
        const unsent = client.unsent();
        const newSockets = FakeSocket.all.length - sockets;
        store.pos = null;
        client.connect();                       // started again: a send waits for its ack
        FakeSocket.all.at(-1).serve(hello);
        const d = outcome(client.send({ conversation_id: "c1", text: "d" }).done);
        const waits = await Promise.race([d, wait(50).then(() => "waiting")]);
        const sent = FakeSocket.all.at(-1).sent.filter((f) => f.type === "send").map((f) => f.text);
        client.disconnect();
        await d;
        return { settled: afterSettled, keptTexts, unsent, newSockets, waits, sent };
      };
      return { closed: await run(stops.closed), signedOut: await run(stops.signedOut),
               stopped: await run(stops.stopped) };
    }""")
    for outcome in result.values():
        assert outcome["settled"] == ["disconnected", "disconnected"]
        assert outcome["keptTexts"] == ["a", "b", "c"]  # a reload sends all three, in order
        assert outcome["unsent"] == [] and outcome["newSockets"] == 0
        assert outcome["waits"] == "waiting" and outcome["sent"] == ["d"]


async def test_a_server_fault_without_its_close_is_dropped_by_the_client_and_sent_again_first(
        page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, connected, hello, outcome, sends, wait } = window.t;
      const { client, socket } = connected();
      const a = client.send({ conversation_id: "c1", text: "a" });
      const results = [outcome(a.done), outcome(client.send({ conversation_id: "c1", text: "b" }).done)];
      socket.serve({ type: "error", id: sends(socket)[0].id, code: "internal_error", message: "oops" });
      await wait(30);                           // no 1011 comes (a proxy kept the socket open)
      const second = FakeSocket.all.at(-1);
      second.serve(hello);
      second.serve({ type: "resumed", head: 5 });
      const resent = sends(second).map((f) => [f.text, f.client_id]);
      second.serve({ type: "ack", id: sends(second).at(-1).id, duplicate: true, message: { seq: 1 } });
      await wait(0);
      second.serve({ type: "ack", id: sends(second).at(-1).id, message: { seq: 2 } });
      const settled = await window.t.settled(results);
      client.disconnect();
      return { closedWith: socket.closedWith, sockets: FakeSocket.all.length, resent,
               clientId: a.clientId, all: sends(second).map((f) => f.text), settled };
    }""")
    assert result["closedWith"] == 4000 and result["sockets"] == 2
    assert result["resent"] == [["a", result["clientId"]]]  # first, with its client id
    assert result["all"] == ["a", "b"] and result["settled"] == ["acked", "acked"]


async def test_a_send_json_cannot_carry_fails_for_good_and_the_next_goes_on(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, connected, outcome, sends, settled, wait } = window.t;
      const { client, socket } = connected();
      const results = [
        outcome(client.send({ conversation_id: "c1", text: "a", attachments: [{ size: 1n }] }).done),
        outcome(client.send({ conversation_id: "c1", text: "b" }).done)];
      await wait(0);
      const b = sends(socket).find((f) => f.text === "b");
      if (b) socket.serve({ type: "ack", id: b.id, message: { seq: 1 } });
      const command = await client.command("presence", { state: 1n }).catch((e) => e.code);
      const outcomes = await settled(results);
      const unsent = client.unsent();
      client.disconnect();
      return { outcomes, command, unsent, texts: sends(socket).map((f) => f.text),
               sockets: FakeSocket.all.length };
    }""")
    assert result["outcomes"] == ["unserialisable", "acked"]
    assert result["command"] == "unserialisable"
    assert result["unsent"] == [] and result["texts"] == ["b"] and result["sockets"] == 1


async def test_a_client_started_again_keeps_the_rejected_sends_in_the_kept_copy(page):
    result = await page.evaluate("""async () => {
      const { FakeSocket, hello, store, connected, keptStore, sends, wait } = window.t;
      const kept = keptStore();
      const texts = () => kept.load().map((f) => f.text);
      const { client } = connected({ kept });
      const a = client.send({ conversation_id: "c1", text: "a" });
      a.done.catch(() => {});
      client.send({ conversation_id: "c1", text: "b" }).done.catch(() => {});
      FakeSocket.all.at(-1).drop(1008);         // stopped: a and b rejected
      client.send({ conversation_id: "c1", text: "c" }).done.catch(() => {});
      const restart = () => {
        store.pos = null;
        client.connect();
        const socket = FakeSocket.all.at(-1);
        socket.serve(hello);
        return socket;
      };
      const acked = async (socket, fields) => {
        const { done } = client.send({ conversation_id: "c1", ...fields });
        const during = texts();
        socket.serve({ type: "ack", id: sends(socket).at(-1).id, message: { seq: 1 } });
        await done;
        await wait(0);
        return [during, texts()];
      };
      let socket = restart();
      const d = await acked(socket, { text: "d" });
      const again = await acked(socket, { text: "a", client_id: a.clientId });  // the caller's Try again
      const keptIds = kept.load().map((f) => f.client_id).includes(a.clientId);
      client.disconnect();
      kept.save([]);                            // forgotten (signed out) before the next start
      socket = restart();
      const forgotten = await acked(socket, { text: "e" });
      client.disconnect();
      return { d, again, keptIds, forgotten };
    }""")
    assert result["d"] == [["a", "b", "c", "d"], ["a", "b", "c"]]
    # Sent again, "a" keeps its place in the copy: a reload meanwhile sends a, b, c.
    assert result["again"] == [["a", "b", "c"], ["b", "c"]] and not result["keptIds"]
    assert result["forgotten"] == [["e"], []]


async def test_a_socket_that_throws_on_send_loses_the_send_and_it_goes_again_once_connected(page):
    # Another WebSocketImpl may throw from send(): that is a lost connection, not a refusal.
    result = await page.evaluate("""async () => {
      const { FakeSocket, connected, hello, outcome, sends, settled, wait } = window.t;
      const { client, socket } = connected();
      socket.send = () => { throw new DOMException("Still in CONNECTING state.", "InvalidStateError"); };
      const a = client.send({ conversation_id: "c1", text: "a" });
      const result = outcome(a.done);
      const command = await client.command("ping").catch((e) => e.code);
      await wait(0);
      socket.drop(1006);
      await wait(30);
      const second = FakeSocket.all.at(-1);
      second.serve(hello);
      second.serve({ type: "resumed", head: 5 });
      const resent = sends(second).map((f) => [f.text, f.client_id]);
      if (resent.length) second.serve({ type: "ack", id: sends(second)[0].id, message: { seq: 1 } });
      const outcomes = await settled([result]);
      client.disconnect();
      return { command, resent, clientId: a.clientId, outcomes };
    }""")
    assert result["command"] == "disconnected"
    assert result["resent"] == [["a", result["clientId"]]] and result["outcomes"] == ["acked"]


async def test_a_send_json_cannot_carry_is_refused_at_once_and_the_later_ones_are_kept(page):
    # Offline, so nothing would transmit it: it must not wait in the outbox, where every
    # save of the kept copy (real sessionStorage JSON) would fail and lose the sends after it.
    result = await page.evaluate("""async () => {
      const { m, make, outcome, settled } = window.t;
      const items = new Map();
      const storage = { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, v),
                        removeItem: (k) => items.delete(k) };
      const kept = m.keptSends(7, storage);
      const client = make({ kept });            // never connected: sends wait
      const bad = outcome(client.send({ conversation_id: "c1", text: "a", attachments: [{ size: 1n }] }).done);
      client.send({ conversation_id: "c1", text: "b" }).done.catch(() => {});
      const outcomes = await settled([bad]);
      const keptTexts = kept.load().map((f) => f.text), unsent = client.unsent().length;
      client.disconnect();
      return { outcomes, keptTexts, unsent };
    }""")
    assert result["outcomes"] == ["unserialisable"]
    assert result["keptTexts"] == ["b"] and result["unsent"] == 1
