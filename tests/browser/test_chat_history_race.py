"""Changes that reach the chat page while a conversation's history is being read: the other
member sends, edits a message and reacts to another after the server read the history and
before its answer reached the page. Once the answer is in, the page shows what `history`
would answer now: the new message once, the edit, the reaction. And the same for events heard
while a sender's name is read, or while you are removed from a group whose history is read."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, quote, urlparse

from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up, befriend, messages, open_chat_with, send
from tests.support.writes import many_writes

settings_with_many_writes = many_writes()  # the paging test sends 55 messages


class HeldHistory:
    """Once `armed`, the next answer to a `kind` command (`history` unless told) is held at the
    network (the server has read it) until `release()`; the frames after it reach the page
    meanwhile, and their types are noted as they are passed on."""

    def __init__(self, kind: str = "history") -> None:
        self.kind = kind
        self.armed = False
        self.held = asyncio.Event()
        self.passed: list[str] = []
        self.passed_more = asyncio.Event()
        self.asked: list[str] = []  # the types of the page's frames, in order
        self.asked_more = asyncio.Event()
        self._history_id = None
        self._answer = None

    async def route(self, ws) -> None:
        server = ws.connect_to_server()

        def from_page(message) -> None:
            frame = json.loads(message)
            if frame.get("type") == self.kind and self.armed and self._history_id is None:
                self._history_id = frame.get("id")
            server.send(message)
            self.asked.append(frame.get("type"))
            self.asked_more.set()

        def from_server(message) -> None:
            frame = json.loads(message)
            if self._answer is None and self._history_id is not None \
                    and frame.get("id") == self._history_id:
                self._answer = (ws, message)
                self.held.set()
                return
            ws.send(message)
            self.passed.append(frame.get("type"))
            self.passed_more.set()

        ws.on_message(from_page)
        server.on_message(from_server)

    def arm(self) -> None:
        """Hold the next answer (again)."""
        self._history_id = self._answer = None
        self.held.clear()
        self.armed = True

    async def passed_on(self, *types: str) -> None:
        """Each of `types` was passed on (as many times as it is named)."""
        async with asyncio.timeout(10):
            while not all(self.passed.count(t) >= types.count(t) for t in types):
                self.passed_more.clear()
                await self.passed_more.wait()

    async def asked_after(self, start: int, kind: str) -> None:
        async with asyncio.timeout(10):
            while kind not in self.asked[start:]:
                self.asked_more.clear()
                await self.asked_more.wait()

    def release(self) -> None:
        page, message = self._answer
        page.send(message)


async def test_changes_heard_while_the_history_is_read_show_once_it_is_in(site):
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ada Reading")
    b = await api_sign_up(site, page_b, "Ben Writing")
    await befriend(site, page_a, a, page_b, b)
    await open_chat_with(page_b, a)
    for text in ("edit me", "react to me"):
        await send(page_b, text)
    await expect(page_b.locator('#messages li.mine [data-tick="sent"]')).to_have_count(2)
    conversation = parse_qs(urlparse(page_b.url).query)["c"][0]
    first, second = [await page_b.locator("#messages li", has_text=text).get_attribute("data-seq")
                     for text in ("edit me", "react to me")]
    at = f"/api/v1/conversations/{conversation}/messages"
    origin = {"Origin": site.base}

    held = HeldHistory()
    await page_a.route_web_socket("**/ws*", held.route)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    held.armed = True
    await page_a.locator("#conversation-list li", has_text="Ben Writing").get_by_role(
        "button").first.click()
    async with asyncio.timeout(10):
        await held.held.wait()

    # The history is read: Ben's changes come after it, and reach the page before its answer.
    sent = await page_b.context.request.post(at, headers=origin,
                                             data={"text": "sent while you read"})
    assert sent.status == 201, await sent.text()
    edited = await page_b.context.request.patch(f"{at}/{first}", headers=origin,
                                                data={"text": "edited while you read"})
    assert edited.ok, await edited.text()
    reacted = await page_b.context.request.put(f"{at}/{second}/reactions/{quote('👍')}",
                                               headers=origin)
    assert reacted.ok, await reacted.text()
    await held.passed_on("newMessage", "message.edited", "reaction")
    held.release()

    await expect(messages(page_a)).to_have_text(
        ["edited while you read", "react to me", "sent while you read"])
    liked = page_a.locator("#messages li", has_text="react to me").locator(".reactions button")
    await expect(liked).to_have_text(["👍 1"])
    await expect(page_a.locator("#messages li", has_text="edited while you read").locator(
        ".meta")).to_contain_text("· edited")


async def post(site, page, path: str, data: dict | None = None, method: str = "post"):
    answer = await getattr(page.context.request, method)(path, headers={"Origin": site.base},
                                                         data=data)
    assert answer.ok, await answer.text()
    return await answer.json() if answer.status != 204 else None


def seq_of(sent: dict) -> int:
    return sent.get("message", sent)["seq"]


async def test_an_edit_heard_while_the_senders_name_is_read_stays(site):
    """A new member's first message is shown at once while the page reads their name; their
    edit of it, heard meanwhile, is not put back under that first copy once the name is in."""
    page_a, page_b, page_c = await site.new_page(), await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ada Group")
    b = await api_sign_up(site, page_b, "Ben Owner")
    c = await api_sign_up(site, page_c, "Cleo Newcomer")
    await befriend(site, page_a, a, page_b, b)
    await befriend(site, page_b, b, page_c, c)
    group = (await post(site, page_b, "/api/v1/conversations",
                        {"kind": "group", "name": "Book club", "member_ids": [a["id"]]}))
    at = f"/api/v1/conversations/{group['id']}"
    await post(site, page_b, f"{at}/messages", {"text": "welcome"})

    asked, release = [], asyncio.Event()
    asked_more = asyncio.Event()

    async def held_name(route):
        asked.append(route.request.url)
        asked_more.set()
        await release.wait()
        await route.continue_()

    await page_a.route(f"**/api/v1/users/{c['id']}", held_name)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    await page_a.locator("#conversation-list li", has_text="Book club").get_by_role(
        "button").first.click()
    await expect(messages(page_a)).to_have_text(["welcome"])

    await post(site, page_b, f"{at}/members", {"user_ids": [c["id"]]})
    async with asyncio.timeout(10):
        while not asked:  # the page reads the newcomer's name, held
            asked_more.clear()
            await asked_more.wait()
    first = await post(site, page_c, f"{at}/messages", {"text": "hello all"})
    seq = first.get("message", first)["seq"]
    await post(site, page_c, f"{at}/messages/{seq}", {"text": "hello all, edited"}, "patch")
    await expect(messages(page_a)).to_have_text(["welcome", "hello all, edited"])
    release.set()
    await expect(page_a.locator("#announcer")).to_have_text("Cleo Newcomer: hello all")
    await expect(messages(page_a)).to_have_text(["welcome", "hello all, edited"])
    await expect(page_a.locator("#messages li", has_text="hello all").locator(".sender")).to_have_text(
        "Cleo Newcomer")


async def test_a_history_read_as_you_are_removed_is_dropped(site):
    """Removed from a group while its history is read: that answer is not kept, so once added
    back the group's history is read again and shows what was said meanwhile."""
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ada Removed")
    b = await api_sign_up(site, page_b, "Ben Admin")
    await befriend(site, page_a, a, page_b, b)
    group = (await post(site, page_b, "/api/v1/conversations",
                        {"kind": "group", "name": "Choir", "member_ids": [a["id"]]}))
    at = f"/api/v1/conversations/{group['id']}"
    await post(site, page_b, f"{at}/messages", {"text": "before"})

    held = HeldHistory()
    await page_a.route_web_socket("**/ws*", held.route)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    held.armed = True
    await page_a.locator("#conversation-list li", has_text="Choir").get_by_role(
        "button").first.click()
    async with asyncio.timeout(10):
        await held.held.wait()
    await post(site, page_b, f"{at}/members/{a['id']}", method="delete")
    await held.passed_on("member.removed")
    await page_a.locator("#chat-status", has_text="You were removed from the group.").wait_for()
    start = len(held.asked)
    held.release()
    await held.asked_after(start, "presence_of")  # the opening went on past its history read

    await post(site, page_b, f"{at}/messages", {"text": "while you were out"})
    await post(site, page_b, f"{at}/members", {"user_ids": [a["id"]]})
    await page_a.locator("#conversation-list li", has_text="Choir").get_by_role(
        "button").first.click()
    await expect(messages(page_a)).to_have_text(["before", "while you were out"])


async def test_a_change_to_a_message_older_than_the_pages_read_opens_no_hole(site):
    """The first page holds the last 50 of 55 messages. Reactions to the oldest ones, heard
    while that page is read and once it is in, are not shown above a gap, and "Load earlier"
    then shows every message once, in order."""
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ada Paging")
    b = await api_sign_up(site, page_b, "Ben Reacting")
    await befriend(site, page_a, a, page_b, b)
    await open_chat_with(page_b, a)
    conversation = parse_qs(urlparse(page_b.url).query)["c"][0]
    at = f"/api/v1/conversations/{conversation}/messages"
    seqs = []
    for n in range(1, 56):
        sent = await post(site, page_b, at, {"text": f"note {n}"})
        seqs.append(sent.get("message", sent)["seq"])

    held = HeldHistory()
    await page_a.route_web_socket("**/ws*", held.route)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    held.armed = True
    await page_a.locator("#conversation-list li", has_text="Ben Reacting").get_by_role(
        "button").first.click()
    async with asyncio.timeout(10):
        await held.held.wait()
    await post(site, page_b, f"{at}/{seqs[0]}/reactions/{quote('👍')}", method="put")
    await held.passed_on("reaction")
    held.release()
    await expect(messages(page_a)).to_have_count(50)
    await expect(messages(page_a).first).to_have_text("note 6")

    held.passed.clear()  # and one heard once the first page is in
    await post(site, page_b, f"{at}/{seqs[1]}/reactions/{quote('👍')}", method="put")
    await held.passed_on("reaction")
    await page_a.get_by_role("button", name="Load earlier messages").click()
    await expect(messages(page_a)).to_have_text([f"note {n}" for n in range(1, 56)])
    await expect(page_a.get_by_role("button", name="Load earlier messages")).to_be_hidden()
    for text in ("note 1", "note 2"):
        item = page_a.locator("#messages li").filter(has=page_a.get_by_text(text, exact=True))
        await expect(item.locator(".reactions button")).to_have_text(["👍 1"])


async def test_deletes_heard_while_the_history_is_read_show_once_it_is_in(site):
    """Ben deletes one message for everyone and Ada (on another device) one for herself after
    the server read her history and before its answer reached her page: once it is in, the
    first shows as deleted and the second is gone."""
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ada Deleting")
    b = await api_sign_up(site, page_b, "Ben Deleting")
    await befriend(site, page_a, a, page_b, b)
    await open_chat_with(page_b, a)
    conversation = parse_qs(urlparse(page_b.url).query)["c"][0]
    at = f"/api/v1/conversations/{conversation}/messages"
    seqs = [seq_of(await post(site, page_b, at, {"text": text}))
            for text in ("stays", "gone for everyone", "gone for Ada")]

    held = HeldHistory()
    await page_a.route_web_socket("**/ws*", held.route)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    held.armed = True
    await page_a.locator("#conversation-list li", has_text="Ben Deleting").get_by_role(
        "button").first.click()
    async with asyncio.timeout(10):
        await held.held.wait()
    await post(site, page_b, f"{at}/{seqs[1]}", method="delete")
    await post(site, page_a, f"{at}/{seqs[2]}?scope=me", method="delete")
    await held.passed_on("message.deleted", "message.deleted")
    held.release()

    await expect(messages(page_a)).to_have_text(["stays", "This message was deleted."])
    await expect(page_a.locator("#messages li.message")).to_have_count(2)


async def test_an_edit_heard_while_an_earlier_page_is_read_shows_once_it_is_in(site):
    """Ada's page shows the last 50 of 55 messages; Ben edits the second one after the server
    read the earlier page Ada asked for and before its answer reached her page."""
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ada Earlier")
    b = await api_sign_up(site, page_b, "Ben Earlier")
    await befriend(site, page_a, a, page_b, b)
    await open_chat_with(page_b, a)
    conversation = parse_qs(urlparse(page_b.url).query)["c"][0]
    at = f"/api/v1/conversations/{conversation}/messages"
    seqs = [seq_of(await post(site, page_b, at, {"text": f"note {n}"}))
            for n in range(1, 56)]

    held = HeldHistory()
    await page_a.route_web_socket("**/ws*", held.route)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    await page_a.locator("#conversation-list li", has_text="Ben Earlier").get_by_role(
        "button").first.click()
    await expect(messages(page_a)).to_have_count(50)
    held.arm()
    await page_a.get_by_role("button", name="Load earlier messages").click()
    async with asyncio.timeout(10):
        await held.held.wait()
    await post(site, page_b, f"{at}/{seqs[1]}", {"text": "note 2, edited"}, "patch")
    await held.passed_on("message.edited")
    held.release()

    await expect(messages(page_a)).to_have_text(
        ["note 1", "note 2, edited"] + [f"note {n}" for n in range(3, 56)])


async def test_a_group_read_by_id_as_you_are_removed_is_not_listed(site):
    """Ben adds Ada back to a group and removes her again after the server read the group for
    her page (which did not list it) and before that answer reached it: the group is not put
    back in her list."""
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ada Out")
    b = await api_sign_up(site, page_b, "Ben Deciding")
    await befriend(site, page_a, a, page_b, b)
    group = await post(site, page_b, "/api/v1/conversations",
                       {"kind": "group", "name": "Choir", "member_ids": [a["id"]]})
    at = f"/api/v1/conversations/{group['id']}"
    await post(site, page_b, f"{at}/members/{a['id']}", method="delete")

    held = HeldHistory("conversation")
    await page_a.route_web_socket("**/ws*", held.route)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    held.armed = True
    await post(site, page_b, f"{at}/members", {"user_ids": [a["id"]]})
    async with asyncio.timeout(10):
        await held.held.wait()
    await post(site, page_b, f"{at}/members/{a['id']}", method="delete")
    await held.passed_on("member.removed")
    held.release()

    # A group Ben starts with her after: listed once read, so the answer held is in by then.
    await post(site, page_b, "/api/v1/conversations",
               {"kind": "group", "name": "Band", "member_ids": [a["id"]]})
    await expect(page_a.locator("#conversation-list li", has_text="Band")).to_have_count(1)
    await expect(page_a.locator("#conversation-list li", has_text="Choir")).to_have_count(0)
