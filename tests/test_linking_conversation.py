"""绑定其他账号: a code from Telegram, sent from WeChat, makes the two accounts one person, who has
one vote; the code works once; an account linked to someone else is refused; unlinking is
audited. The same-channel refusals run on both channels (the `chat` fixture)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bot.config import Settings
from models.db import Database
from models.linking import AccountLink
from models.tables import ChannelAccount, Person
from tests.chat import Chat, TelegramChatUser, WeChatChatUser
from tests.conftest import FakeClock
from tests.fakes.telegram import FakeBotApi
from tests.test_polls_conversation import counts, wall_poll
from tests.wechat_chat import WeChatHarness, link_account, wechat_settings

CODE = re.compile(r"绑定码：(\d{6})")


def code_in(text: str) -> str:
    found = CODE.search(text)
    assert found is not None, text
    return found.group(1)


async def _actions(db: Database) -> list[str]:
    async with db.session() as s:
        rows = await s.execute(select(AccountLink.action).order_by(col(AccountLink.id)))
        return list(rows.scalars())


async def test_telegram_and_wechat_linked_by_code_are_one_voter(
    telegram: Callable[[], Awaitable[Any]],
    api: FakeBotApi,
    demo: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    poll, options = await wall_poll(demo, clock)
    app = await telegram()
    await link_account(demo, "telegram", "5001", "王建国")
    on_telegram = TelegramChatUser(app, api, 5001, "王建国")
    harness = WeChatHarness(wechat_settings(settings), demo, clock)
    try:
        on_wechat = WeChatChatUser(harness.client, harness.hook("wechat").endpoint,
                                   harness.path("wechat"), "o5001-wx", clock, harness.server)  # fmt: skip
        await on_telegram.send("绑定其他账号")
        code = code_in(on_telegram.last_text)
        assert "10 分钟内有效" in on_telegram.last_text

        await on_wechat.send(code)
        assert "绑定成功" in on_wechat.last_text and "王建国" in on_wechat.last_text
        async with demo.session() as s:
            wx = (
                await s.execute(
                    select(ChannelAccount).where(col(ChannelAccount.external_id) == "o5001-wx")
                )
            ).scalar_one()
            wang = (
                await s.execute(select(Person).where(col(Person.name) == "王建国"))
            ).scalar_one()
            assert wx.person_id == wang.id

        # One person, one vote, whichever app.
        await on_wechat.send("投票")
        await on_wechat.press("投给 方案三")
        assert "投票成功，回执" in on_wechat.last_text
        await on_telegram.send("投票")
        assert on_telegram.told("您已投过")
        await on_telegram.press_payload(f"poll:vote:{poll}:{options[0]}")
        assert "您已投过" in on_telegram.last_text
        assert await counts(demo, poll) == (1, 1)

        # The code was single use: another follower cannot reuse it.
        other = WeChatChatUser(harness.client, harness.hook("wechat").endpoint,
                               harness.path("wechat"), "o5002-wx", clock, harness.server)  # fmt: skip
        await other.send(code)
        assert "这个绑定码不对或已过期" in other.last_text

        # Unlinking, from Telegram: the WeChat account no longer speaks for him.
        await on_telegram.send("/link")
        assert "已绑定：微信公众号" in on_telegram.last_text
        await on_telegram.press("解绑 微信公众号")
        assert "已解绑 微信公众号" in on_telegram.last_text
        async with demo.session() as s:
            again = await s.get(ChannelAccount, wx.id)
            assert again is not None and again.person_id is None
        assert await _actions(demo) == ["link", "bad_code", "unlink"]
    finally:
        await harness.close()


async def test_an_account_linked_to_someone_else_is_refused(chat: Chat, clock: FakeClock) -> None:
    wang = await chat.person("王建国")
    await wang.send("绑定其他账号")
    code = code_in(wang.last_text)
    li = await chat.person("李红")
    await li.send(code)
    assert "这个账号已经绑定了别人" in li.last_text
    async with chat.db.session() as s:
        accounts = (await s.execute(select(ChannelAccount))).scalars().all()
        owners = {a.external_id: a.person_id for a in accounts}
        people = {p.id: p.name for p in (await s.execute(select(Person))).scalars()}
    assert sorted(people[o] for o in owners.values() if o is not None) == ["李红", "王建国"]
    assert await _actions(chat.db) == ["refused"]
    # His own account sending his own code: nothing to do.
    await wang.send(code)
    assert "已经绑定在您名下" in wang.last_text


async def test_wrong_codes_are_counted_and_stop_after_five(chat: Chat, clock: FakeClock) -> None:
    newcomer = chat.user(7001, "新朋友")
    for _ in range(5):
        await newcomer.send("123456")
        assert "这个绑定码不对或已过期" in newcomer.last_text
    await newcomer.send("654321")
    assert "错误次数太多" in newcomer.last_text
    assert await _actions(chat.db) == ["bad_code"] * 5
