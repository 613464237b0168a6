"""Notification mail without I/O: the unsubscribe token (signed, one kind, one user), what a
mail holds, and which chat messages a missed-message mail carries."""

from __future__ import annotations

from datetime import datetime, timezone

from nirvana.domain.chat.entities import (
    Conversation,
    ConversationKind,
    Member,
    Message,
    MessageKind,
    Role,
)
from nirvana.domain.notifications.mail import (
    Contact,
    compose,
    read_unsubscribe_token,
    unsubscribe_token,
)
from nirvana.domain.notifications.missed import candidates, still_unread
from nirvana.security import HmacSigner

NOW = datetime(2026, 12, 4, tzinfo=timezone.utc)
signer = HmacSigner("s" * 48, purpose="unsubscribe")


def test_a_token_names_its_user_and_kind_and_cannot_be_altered():
    token = unsubscribe_token(signer, 42, "mentioned")
    assert read_unsubscribe_token(signer, token) == (42, "mentioned")
    other = unsubscribe_token(signer, 43, "mentioned")
    forged = other.split(".")[0] + "." + token.split(".")[1]
    assert read_unsubscribe_token(signer, forged) is None
    assert read_unsubscribe_token(HmacSigner("x" * 48, purpose="unsubscribe"), token) is None
    assert read_unsubscribe_token(signer, "nonsense") is None


def test_a_mail_has_both_parts_the_link_and_the_one_click_headers():
    mail = compose(contact=Contact(1, "bob@example.com", "Bob <3", "bob"), subject="Hi",
                   lines=["Ann <b>waved</b>."], link="/people/2", link_text="See",
                   base_url="https://n.example", unsubscribe="TOKEN", why="Because.")
    assert "https://n.example/people/2" in mail.text and "Ann <b>waved</b>." in mail.text
    assert "Ann &lt;b&gt;waved&lt;/b&gt;." in mail.html and "Bob &lt;3" in mail.html
    assert mail.headers == {
        "List-Unsubscribe": "<https://n.example/unsubscribe?token=TOKEN>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def message(seq: int, sender: int = 1, text: str = "hi", **kw) -> Message:
    return Message(f"m{seq}", "c", seq, seq, sender, f"k{seq}", MessageKind.TEXT, text, (),
                   None, NOW, **kw)


def conversation(kind: ConversationKind) -> Conversation:
    return Conversation("c", kind, [Member(u, Role.MEMBER) for u in (1, 2, 3)], 1, NOW, NOW,
                        name="Trip")


def test_who_may_miss_a_message():
    assert candidates(message(1), conversation(ConversationKind.DIRECT)) == ([2, 3], [])
    group = conversation(ConversationKind.GROUP)
    assert candidates(message(1, text="hi @Cat"), group) == ([], [("cat",)])
    assert candidates(message(1, text="hi all"), group) == ([], [])


def test_a_mail_carries_what_is_still_unread_and_was_never_mailed():
    found = [message(s) for s in range(1, 8)] + [message(8, sender=2)]
    found[5] = message(6, deleted=True)
    found[6] = message(7, hidden_for=(2,))
    unread = still_unread(found, 2, pending=[2, 3, 4, 5, 6, 7, 8], read_seq=3,
                          mailed_through=4)
    assert [m.seq for m in unread] == [5]
