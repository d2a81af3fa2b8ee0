"""A push and a person's first message to the same chat, at the same moment (PostgreSQL).

A task push on WeChat stores its numbered choices in the chat's state while the person's
own first message may be creating that state. CI once saw the push lose that race
(conversation_pkey) and the task never reached the volunteer. On SQLite transactions cannot
interleave (one pooled connection, BEGIN IMMEDIATE), so these run on PostgreSQL only.
"""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from models.db import Database, lost_insert_race
from models.direct_messages import offer_pushed_choices
from models.people import get_or_create_account, load_chat
from models.tables import Conversation

TAKE = [["🙋 接单", "task:take:2"], ["查看", "task:view:2"]]


@pytest.fixture
def postgres(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("SQLite runs one transaction at a time: nothing can interleave")
    return db


async def test_a_push_that_comes_first_wins_and_the_message_is_run_again(
    postgres: Database, clock
) -> None:
    now = clock()
    async with postgres.session() as s:  # a volunteer's account: pushes go to accounts
        await get_or_create_account(s, "wechat", "o-new", "o-new", now)
    message = postgres.sessionmaker()
    await message.begin()
    await load_chat(message, "wechat", "o-new", "o-new", now)  # no chat state yet

    async with postgres.session() as push:  # meanwhile the push creates it and commits
        assert await offer_pushed_choices(push, "wechat", "o-new", TAKE, now) == 1

    with pytest.raises(IntegrityError) as lost:
        await message.commit()
    await message.close()
    assert lost_insert_race(lost.value, "conversation")  # what Linli.handle runs again

    async with postgres.session() as again:  # the second run finds the row and keeps it
        chat = await load_chat(again, "wechat", "o-new", "o-new", now)
        assert chat.conversation.choices == TAKE


async def test_a_message_that_comes_first_is_not_broken_by_the_push(
    postgres: Database, clock
) -> None:
    now = clock()
    async with postgres.session() as message:
        await load_chat(message, "wechat", "o-new", "o-new", now)
    async with postgres.session() as push:
        assert await offer_pushed_choices(push, "wechat", "o-new", TAKE, now) == 1
    async with postgres.session() as s:
        conv = await s.get(Conversation, ("wechat", "o-new"))
        assert conv is not None and conv.choices == TAKE


async def test_two_pushes_at_once_number_their_choices_one_after_the_other(
    postgres: Database, clock
) -> None:
    """Inside a flow pushed choices are appended: the second push waits for the first's row
    lock, so it numbers after the first instead of overwriting it."""
    now = clock()
    async with postgres.session() as s:
        chat = await load_chat(s, "wechat", "o-flow", "o-flow", now)
        chat.conversation.flow, chat.conversation.choices = "report", [["取消", "cancel"]]
    first = postgres.sessionmaker()
    await first.begin()
    assert await offer_pushed_choices(first, "wechat", "o-flow", TAKE, now) == 2
    await first.commit()
    await first.close()
    async with postgres.session() as second:
        assert await offer_pushed_choices(second, "wechat", "o-flow", [["好", "ok"]], now) == 4
    async with postgres.session() as s:
        conv = await s.get(Conversation, ("wechat", "o-flow"))
        assert conv is not None and [p for _, p in conv.choices] == [
            "cancel", "task:take:2", "task:view:2", "ok",
        ]  # fmt: skip
