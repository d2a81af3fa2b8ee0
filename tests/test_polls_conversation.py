"""投票 in the chat, on Telegram and WeChat: the wall designs of 虹桥南村 voted per household (the
second member is told who voted), the receipt, changing a vote, the representatives-only poll,
refusals (unverified, outside the audience) and forged buttons that record nothing."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import col

from models.db import Database
from models.poll_demo import seed_poll_demo
from models.poll_results import PollDraft, create_poll
from models.polls import Ballot, Poll, PollAudience, PollOption, VoterRoll
from models.tables import ChannelAccount, Person, Role
from tests.chat import Chat, labels
from tests.conftest import FakeClock

RECEIPT = re.compile(r"回执 ([2-9A-HJ-NP-Z]{4})")


async def wall_poll(db: Database, clock: FakeClock) -> tuple[int, list[int]]:
    """The demo's wall-design poll (per household, 虹桥南村) and its option ids."""
    async with db.session() as s:
        poll = await seed_poll_demo(s, clock())
        options = await s.execute(
            select(col(PollOption.id))
            .where(col(PollOption.poll_id) == poll.id)
            .order_by(col(PollOption.position))
        )
        return poll.id or 0, list(options.scalars())


async def counts(db: Database, poll: int) -> tuple[int, int]:
    """(ballots, voter-roll rows) of a poll."""
    async with db.session() as s:
        ballots = await s.execute(select(func.count()).where(col(Ballot.poll_id) == poll))
        rolls = await s.execute(select(func.count()).where(col(VoterRoll.poll_id) == poll))
        return int(ballots.scalar_one()), int(rolls.scalar_one())


async def test_two_members_of_one_household_vote_once(chat: Chat, clock: FakeClock) -> None:
    poll, options = await wall_poll(chat.db, clock)
    wang = await chat.person("王建国")
    await wang.send("投票")
    assert wang.told("虹桥南村外墙改造，选哪一款设计？")
    assert wang.told("虹桥南村登记居民，每户一票，实名") and wang.told("截止：03-10")
    assert wang.told("② 方案二 暖色彩绘")
    await chat.deliver()  # WeChat: the pictures follow the text through the API
    # The three designs: an album on Telegram (sendMediaGroup), three numbered pictures on WeChat.
    assert wang.pictures == 3
    if chat.telegram:
        assert chat.api is not None
        albums = [s for s in chat.api.to_chat(wang.chat_id) if s.method == "sendMediaGroup"]
        assert [s.text for s in albums] == [
            "① 方案一 青瓦白墙",
            "② 方案二 暖色彩绘",
            "③ 方案三 简约灰",
        ]

    await wang.press("投给 方案二")
    assert "投票成功，回执" in wang.last_text and "方案二 暖色彩绘" in wang.last_text
    assert RECEIPT.search(wang.last_text)

    # His daughter, same household: told who voted, with no button to vote.
    li = await chat.person("王丽")
    await li.send("投票")
    assert li.told("您家已由 王** 投票")
    assert not [label for label in labels(li.messages) if label.startswith("投给")]
    # A forged button from her changes nothing; nor does a second try by him.
    await li.press_payload(f"poll:vote:{poll}:{options[0]}")
    assert "您家已由 王** 投票" in li.last_text
    await wang.press_payload(f"poll:vote:{poll}:{options[2]}")
    assert "您已投过" in wang.last_text
    assert await counts(chat.db, poll) == (1, 1)
    async with chat.db.session() as s:
        ballot = (await s.execute(select(Ballot).where(col(Ballot.poll_id) == poll))).scalar_one()
    assert ballot.option_id == options[1]


async def test_a_changeable_poll_takes_a_new_choice_until_the_close(
    chat: Chat, clock: FakeClock
) -> None:
    zhu = await chat.person("朱凡")
    async with chat.db.session() as s:
        liu = (await s.execute(select(Person).where(col(Person.name) == "刘芳"))).scalar_one()
        poll = await create_poll(
            s,
            PollDraft(
                "楼道灯换成声控灯吗？",
                [("换", None), ("不换", None)],
                clock() + timedelta(days=2),
                changeable=True,
            ),
            liu,
            frozenset({(Role.MANAGER, None)}),
            clock(),
        )
        poll_id = poll.id or 0
    await zhu.send("/vote")
    await zhu.press("投给 换")
    first = RECEIPT.search(zhu.last_text)
    assert first is not None
    await zhu.send("投票")
    assert zhu.told("截止前可以改投")
    await zhu.press("投给 不换")
    assert "已改投：不换" in zhu.last_text and first.group(1) in zhu.last_text
    assert await counts(chat.db, poll_id) == (1, 1)


async def test_representatives_only(chat: Chat, clock: FakeClock) -> None:
    async with chat.db.session() as s:
        liu = (await s.execute(select(Person).where(col(Person.name) == "刘芳"))).scalar_one()
        poll = await create_poll(
            s,
            PollDraft(
                "车库电表改造方案",
                [("统一改造", None), ("暂缓", None)],
                clock() + timedelta(days=5),
                audience=PollAudience.REPRESENTATIVES,
            ),
            liu,
            frozenset({(Role.MANAGER, None)}),
            clock(),
        )
        poll_id = poll.id or 0
        option = (
            (await s.execute(select(PollOption).where(col(PollOption.poll_id) == poll_id)))
            .scalars()
            .first()
        )
        assert option is not None
    li = await chat.person("李红")
    await li.send("投票")
    assert li.told("现在没有您可以参加的投票")
    await li.press_payload(f"poll:show:{poll_id}")
    assert li.told("这个投票只由居民代表参加")
    await li.press_payload(f"poll:vote:{poll_id}:{option.id}")
    assert "只由居民代表参加" in li.last_text
    wang = await chat.person("王建国")  # a residents' representative
    await wang.send("投票")
    assert wang.told("谁可以投：居民代表，每人一票")
    await wang.press("投给 统一改造")
    assert "投票成功" in wang.last_text
    assert await counts(chat.db, poll_id) == (1, 1)


async def test_unverified_and_outside_the_audience_are_told_why(
    chat: Chat, clock: FakeClock
) -> None:
    poll, options = await wall_poll(chat.db, clock)
    async with chat.db.session() as s:
        wang = (await s.execute(select(Person).where(col(Person.name) == "王建国"))).scalar_one()
        s.add(Person(community_id=wang.community_id, grid_id=wang.grid_id, name="新住户",
                     household_id=wang.household_id, verified=False))  # fmt: skip
    newcomer = await chat.person("新住户")
    await newcomer.send("投票")
    assert "请先完成居民登记确认" in newcomer.last_text
    await newcomer.press_payload(f"poll:vote:{poll}:{options[0]}")
    assert "请先完成居民登记确认" in newcomer.last_text
    # 赵敏 lives in 虹桥东村: the wall poll is 虹桥南村's.
    zhao = await chat.person("赵敏")
    await zhao.press_payload(f"poll:vote:{poll}:{options[0]}")
    assert "只对本小区居民开放" in zhao.last_text
    stranger = chat.user(4242, "路人")
    await stranger.press_payload(f"poll:vote:{poll}:{options[0]}")
    assert stranger.told("请先")
    assert await counts(chat.db, poll) == (0, 0)


async def test_forged_buttons_record_nothing(chat: Chat, clock: FakeClock) -> None:
    poll, options = await wall_poll(chat.db, clock)
    async with chat.db.session() as s:
        liu = (await s.execute(select(Person).where(col(Person.name) == "刘芳"))).scalar_one()
        other = await create_poll(
            s,
            PollDraft("另一个投票", [("甲", None), ("乙", None)], clock() + timedelta(days=1)),
            liu,
            frozenset({(Role.MANAGER, None)}),
            clock(),
        )
        other_option = (
            (await s.execute(select(PollOption).where(col(PollOption.poll_id) == other.id)))
            .scalars()
            .first()
        )
        assert other_option is not None
    chen = await chat.person("陈秀英")
    # An option of another poll.
    await chen.press_payload(f"poll:vote:{poll}:{other_option.id}")
    assert "这个选项不属于这个投票" in chen.last_text
    # Garbage and a poll that does not exist.
    await chen.press_payload("poll:vote:abc:1")
    assert "没有找到这个投票" in chen.last_text
    await chen.press_payload("poll:vote:999999:1")
    assert "没有找到这个投票" in chen.last_text
    # A manager's button pressed by a resident.
    await chen.press_payload(f"pa:closeok:{poll}")
    assert "您不能管理这个投票" in chen.last_text
    # A closed poll.
    clock.advance(days=3, minutes=1)
    await chen.press_payload(f"poll:vote:{poll}:{options[0]}")
    assert "这个投票已经结束了" in chen.last_text
    assert await counts(chat.db, poll) == (0, 0)
    async with chat.db.session() as s:
        assert (await s.get(Poll, poll)) is not None
        assert (await s.execute(select(func.count()).select_from(ChannelAccount))).scalar_one() == 1


async def test_a_manager_creates_a_poll_in_the_chat(chat: Chat, clock: FakeClock) -> None:
    liu = await chat.person("刘芳")
    await liu.send("投票")
    await liu.press("发起投票")
    assert "请发投票的问题" in liu.last_text
    await liu.send("小区东门装不装快递柜？")
    assert "第 1 个选项" in liu.last_text
    await liu.send("装")
    await liu.photo("locker-design")  # a picture without a caption: "方案2"
    assert "第 3 个选项" in liu.last_text
    await liu.press("选项就这些")
    await liu.press("全社区登记居民")
    await liu.press("每户一票")
    await liu.press("实名，截止前可改投")
    await liu.send("5")  # typed days
    await liu.press("提醒")
    assert "什么时候公布结果" in liu.last_text
    await liu.send("好的")  # not a choice: asked again
    assert "什么时候公布结果" in liu.last_text
    await liu.press("投票中也能看")
    assert "开放 5 天" in liu.last_text and "装、方案2" in liu.last_text
    assert "结果：投票中也能看" in liu.last_text
    await liu.press("✅ 发起投票")
    assert "投票已发起：小区东门装不装快递柜？" in liu.last_text
    async with chat.db.session() as s:
        poll = (
            await s.execute(select(Poll).where(col(Poll.question).contains("快递柜")))
        ).scalar_one()
        options = list(
            (await s.execute(select(PollOption).where(col(PollOption.poll_id) == poll.id)
                             .order_by(col(PollOption.position)))).scalars()
        )  # fmt: skip
    assert poll.per_household and poll.changeable and not poll.anonymous
    assert poll.results_before_close
    assert poll.closes_at == clock() + timedelta(days=5)
    assert poll.remind_at == poll.closes_at - timedelta(hours=24)
    assert [o.label for o in options] == ["装", "方案2"]
    assert options[0].picture_ref is None
    assert await chat.arrived_as([str(options[1].picture_ref)]) == [chat.ref("locker-design")]
    # A resident sees it with its picture and votes.
    zhu = await chat.person("朱凡")
    await zhu.send("投票")
    await chat.deliver()
    assert zhu.pictures == 1
    await zhu.press("投给 装")
    assert "投票成功" in zhu.last_text
    # The organisers' buttons are not a resident's (朱凡, a grid leader, may organise one).
    chen = await chat.person("陈秀英")
    await chen.press_payload("pa:new")
    assert "您不能管理这个投票" in chen.last_text
    await chen.press_payload(f"pa:admin:{poll.id}")
    assert "您不能管理这个投票" in chen.last_text
