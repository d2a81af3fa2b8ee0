"""Who sees what of a poll, in the chat on Telegram and WeChat: an anonymous poll shows nobody who
voted — not in the chat, not in the export, not to managers; a named poll's voter list is for
its managers only; results before the close only when the poll allows it, otherwise "结果将在
截止后公布"."""

from __future__ import annotations

import io
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel import col

from models.db import Database
from models.poll_results import PollDraft, create_poll, tally_xlsx
from models.polls import Ballot, Poll
from models.tables import Person, Role
from tests.chat import Chat, labels
from tests.conftest import FakeClock

MANAGER = frozenset({(Role.MANAGER, None)})
VOTERS = ("王建国", "陈秀英")


async def open_poll(db: Database, clock: FakeClock, question: str, **rules: bool) -> int:
    """A poll by 刘芳 for the community's residents, closing in two days."""
    async with db.session() as s:
        liu = (await s.execute(select(Person).where(col(Person.name) == "刘芳"))).scalar_one()
        draft = PollDraft(question, [("同意", None), ("不同意", None)],
                          clock() + timedelta(days=2), **rules)  # type: ignore[arg-type]  # fmt: skip
        poll = await create_poll(s, draft, liu, MANAGER, clock())
        return poll.id or 0


async def exported(chat: Chat, manager: object, poll: int) -> list[str]:
    """Every cell of the tally workbook the manager gets (Telegram: the file in the chat; WeChat
    receives no files, so the workbook `linli export poll` writes), and its sheet names."""
    if chat.telegram:
        assert chat.api is not None
        data = [b for m, _n, b in chat.api.uploads if m == "sendDocument"][-1]
    else:
        assert "linli export poll" in manager.last_text  # type: ignore[attr-defined]
        async with chat.db.session() as s:
            found = await s.get(Poll, poll)
            assert found is not None
            data = await tally_xlsx(s, found)
    book = load_workbook(io.BytesIO(data))
    cells = [str(c.value) for sheet in book for row in sheet.iter_rows() for c in row]
    return [*book.sheetnames, *cells]


async def test_an_anonymous_poll_shows_managers_no_voter(chat: Chat, clock: FakeClock) -> None:
    poll = await open_poll(chat.db, clock, "社区食堂的测评：满意吗？", anonymous=True)
    for name, choice in zip(VOTERS, ("投给 同意", "投给 不同意"), strict=True):
        who = await chat.person(name)
        await who.send("投票")
        assert who.told("匿名")
        await who.press(choice)
        assert "投票成功" in who.last_text
    liu = await chat.person("刘芳")
    await liu.press_payload(f"pa:admin:{poll}")
    assert "参与率" in liu.last_text
    assert "投票名单" not in " ".join(labels([liu.last]))  # no button for a list
    await liu.press_payload(f"pa:voters:{poll}")  # a forged one
    assert "这是匿名投票，谁投了什么不公开，管理员也看不到" in liu.last_text
    await liu.press_payload(f"pa:xlsx:{poll}")
    everything = await exported(chat, liu, poll)
    assert "投票名单" not in everything
    assert [name for name in VOTERS if any(name in cell for cell in everything)] == []
    # The ballots carry no person and no time; the roll (who voted) keeps no choice.
    async with chat.db.session() as s:
        ballots = list(
            (await s.execute(select(Ballot).where(col(Ballot.poll_id) == poll))).scalars()
        )
    assert len(ballots) == 2 and {(b.voter_key, b.cast_at) for b in ballots} == {(None, None)}


async def test_a_named_polls_voter_list_is_for_managers_only(chat: Chat, clock: FakeClock) -> None:
    poll = await open_poll(chat.db, clock, "楼顶装太阳能板吗？")
    wang = await chat.person("王建国")
    await wang.send("投票")
    assert wang.told("实名")
    await wang.press("投给 同意")
    liu = await chat.person("刘芳")
    await liu.press_payload(f"pa:admin:{poll}")
    await liu.press("投票名单")
    assert "投票名单（1 人）" in liu.last_text and "王建国：同意" in liu.last_text
    await liu.press_payload(f"pa:xlsx:{poll}")
    everything = await exported(chat, liu, poll)
    assert "投票名单" in everything and "王建国" in everything
    # A resident, and a grid leader of another grid, pressing the managers' buttons see nothing.
    for name in ("陈秀英", "周杰"):
        who = await chat.person(name)
        for payload in (f"pa:voters:{poll}", f"pa:xlsx:{poll}", f"pa:admin:{poll}"):
            await who.press_payload(payload)
            assert "您不能管理这个投票" in who.last_text
            assert "王建国" not in who.last_text
    if chat.telegram:
        assert chat.api is not None
        assert len([m for m, _n, _b in chat.api.uploads if m == "sendDocument"]) == 1  # 刘芳's


async def test_results_before_the_close_only_when_the_poll_allows(
    chat: Chat, clock: FakeClock
) -> None:
    hidden = await open_poll(chat.db, clock, "小区门口设不设减速带？")
    shown = await open_poll(chat.db, clock, "广场舞音量要不要限制？", results_before_close=True)
    wang, chen = await chat.person("王建国"), await chat.person("陈秀英")
    await wang.press_payload(f"poll:show:{hidden}")
    await wang.press("投给 同意")
    await wang.press_payload(f"poll:show:{hidden}")
    assert "看结果" not in " ".join(labels([wang.last]))
    await wang.press_payload(f"poll:result:{hidden}")  # a forged button
    assert "结果将在截止后公布" in wang.last_text and "同意：1 票" not in wang.last_text
    # The poll that allows it: the button is there and the tally (and its chart) comes.
    await chen.press_payload(f"poll:show:{shown}")
    await chen.press("投给 不同意")
    await chen.press_payload(f"poll:show:{shown}")
    pictures = chen.pictures
    await chen.press("看结果")
    await chat.deliver()  # WeChat: the chart follows through the API
    assert chen.told("不同意：1 票（100%）") and chen.pictures == pictures + 1
    # After the close the hidden one shows too.
    clock.advance(days=2, minutes=1)
    await wang.press_payload(f"poll:result:{hidden}")
    await chat.deliver()
    assert wang.told("同意：1 票（100%）")
