"""The data export holds every conversation of a member of more than one page of them, one
that became active between two pages included, each once (exports/service.py
`_every_conversation`; docs/protocol.md, "Your conversation list, by page"). The chat is the
real service over the MongoDB-wire store, paging 2 at a time."""

from __future__ import annotations

from dataclasses import replace

from nirvana.domain.exports.service import Exports
from tests.support.clock import FakeClock
from tests.support.fakes_exports import FakeArchives, FakeExportJobs, FakeRecords, Told
from tests.support.http import sign_up


class SendBetweenPages:
    """The chat as the export reads it; before the second page, a message in a conversation
    the first page did not list moves it above every page still to come."""

    def __init__(self, chat, user_id: int, conversation_ids: list[str]) -> None:
        self.chat, self.user_id, self.ids = chat, user_id, conversation_ids
        self.seen: set[str] = set()
        self.moved: str | None = None

    async def conversations(self, user_id, after=None):
        if after is not None and self.moved is None:
            self.moved = next(cid for cid in self.ids if cid not in self.seen)
            await self.chat.send_message(self.user_id, self.moved, client_id="between",
                                         text="meanwhile")
        page = await self.chat.conversations(user_id, after)
        self.seen.update(c.id for c in page.items)
        return page

    async def history(self, user_id, conversation_id, **page):
        return await self.chat.history(user_id, conversation_id, **page)


async def test_the_export_reads_every_page_and_one_sent_to_between_them(client, flaky):
    chat, _, _ = flaky()
    chat.limits = replace(chat.limits, max_conversations=2)  # a page of 2: 5 make 3 pages
    a = (await sign_up(client))["user"]["id"]
    groups = [(await chat.create_group(a, f"g{n}", [])).id for n in range(5)]
    reader = SendBetweenPages(chat, a, groups)
    told, archives, jobs = Told(), FakeArchives(), FakeExportJobs()
    exports = Exports(jobs=jobs, records=FakeRecords(), chat=reader, archives=archives,
                      notifier=told, mailer=told, clock=FakeClock())
    job = await exports.request(a)
    assert await exports.build_next() is not None
    exported = [c["id"] for c in archives.stored[job.id]["conversations.json"]]
    assert reader.moved is not None
    assert sorted(exported) == sorted(groups)  # each once
    [moved] = [c for c in archives.stored[job.id]["conversations.json"]
               if c["id"] == reader.moved]
    assert "meanwhile" in str(moved)
