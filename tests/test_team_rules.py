"""Teams (issue 20): assignment as a transition, the console rule, quiet hours, pauses, the
roster, invitations naming a team, and where files go."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.app import FEATURES, Linli
from bot.channels.console_channel import ConsoleChat, ConsoleSender
from bot.channels.telegram_channel import TelegramSender
from bot.config import Settings
from bot.delivery import ChannelLimits, DeliverySettings, DeliveryWorker
from handlers.feature import FeatureSet
from handlers.teams import parse_date, parse_hours
from models.db import Database
from models.errors import DomainError
from models.onboarding import create_invitation
from models.outbox import account_for, best_account_id
from models.people import active_roles
from models.reports import Report, ReportEvent
from models.tables import ChannelAccount, Outbox, Person, Team, TeamMember
from models.tasks import TaskOffer
from models.teams import pause, quiet_end, set_quiet_hours
from tests.conftest import FakeClock
from tests.fakes.telegram import FakeBotApi
from tests.telegram_chat import TelegramUser, link, texts

STEWARDS = "乐清网格红管家服务队"


# Telegram-only helpers (the PTB stack and the fake Bot API): these rules are about the
# domain, not the channel; the cross-channel dialogue is tests/test_teams.py.
FAST = ChannelLimits(per_second=1000.0, per_chat_interval=0.0)
WANG, LI, ZHANG, ZHU, LIU, ZHAO, ZHOU = 31, 32, 33, 34, 35, 36, 37


async def deliver(app, demo: Database, clock: FakeClock) -> None:
    """Run the delivery worker until the outbox is empty."""
    worker = DeliveryWorker(
        demo, [TelegramSender(app.bot, FAST)], DeliverySettings(concurrency=4), clock=clock
    )
    await worker.drain()


def said(api: FakeBotApi, uid: int, words: str) -> bool:
    """Whether the bot said `words` to this chat (pushes of one delivery run may interleave)."""
    return any(words in m.text for m in api.to_chat(uid))


async def people(telegram, api: FakeBotApi, demo: Database):
    app = await telegram()
    for uid, name in ((WANG, "王建国"), (LI, "李红"), (ZHANG, "张伟"), (ZHU, "朱凡"),
                      (LIU, "刘芳"), (ZHAO, "赵敏"), (ZHOU, "周杰")):  # fmt: skip
        await link(demo, uid, name)
    return app, {
        uid: TelegramUser(app, api, uid) for uid in (WANG, LI, ZHANG, ZHU, LIU, ZHAO, ZHOU)
    }


async def file_report(wang: TelegramUser, api: FakeBotApi, *, photo: str = "junk-before") -> str:
    """王建国 reports junk behind building 3 with a photo; returns the confirmation text."""
    asked = await wang.send("3幢后面堆了好多杂物")
    assert "是什么问题" in texts(asked)
    assert "杂物堆放" in asked[-1].buttons[0][0], "the guessed category comes first"
    photos = await wang.press("杂物堆放")
    assert "有照片吗" in texts(photos)
    more = await wang.deliver(api.photo_update(WANG, photo))
    assert "已收到 1 张照片" in texts(more)
    where = await wang.press("好了")
    assert "在哪里" in texts(where)
    assert any("虹桥南村3幢" in label for label, _ in where[-1].buttons), "3幢 from the words"
    confirm = await wang.press("虹桥南村3幢")
    assert "请确认" in texts(confirm) and "杂物堆放" in texts(confirm)
    return texts(await wang.press("✅ 提交"))


async def person(demo: Database, name: str) -> Person:
    async with demo.session() as s:
        return (await s.execute(select(Person).where(Person.name == name))).scalar_one()


async def test_assignment_by_the_grid_leader_is_the_same_transition_as_taking(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock
) -> None:
    app, p = await people(telegram, api, demo)
    await file_report(p[WANG], api)
    await p[ZHU].press_payload("task:assign:1")
    assert "已派给 张伟" in texts(await p[ZHU].press("张伟"))
    await deliver(app, demo, clock)
    # The resident is told who is on it, and their list shows the case in progress.
    assert said(api, WANG, "已安排给志愿者 张伟")
    assert said(api, LI, "已由 张伟 接单")  # offered too: told it is gone, as after a take
    status = texts(await p[WANG].send("📋 我的事项"))
    assert "处理中" in status and "待接单" not in status
    async with demo.session() as s:
        report = await s.get(Report, 1)
        events = (
            (await s.execute(select(ReportEvent).where(ReportEvent.action == "assigned")))
            .scalars()
            .all()
        )
    zhu, zhang = await person(demo, "朱凡"), await person(demo, "张伟")
    assert report is not None and report.state == "taken" and report.taken_at == clock()
    assert len(events) == 1
    event = events[0]
    assert (event.actor_id, event.from_state, event.to_state) == (zhu.id, "new", "taken")
    assert event.note is not None and "张伟" in event.note and f"#{zhang.id}" in event.note
    # Another volunteer pressing 接单 now is told who has it.
    taken = texts(await p[LI].press_payload("task:take:1"))
    assert "慢了一步" in taken and "张伟" in taken


async def test_a_console_session_never_takes_a_telegram_users_messages(
    telegram, api: FakeBotApi, linli: Linli, demo: Database, clock: FakeClock
) -> None:
    app, p = await people(telegram, api, demo)  # 李红, 王建国 … have Telegram accounts
    async with demo.session() as s:
        await s.execute(update(ChannelAccount).values(last_seen_at=clock()))
    # `linli console` seats everyone and someone plays 李红 there, later than her Telegram use.
    clock.advance(minutes=30)
    out = io.StringIO()
    console = ConsoleChat(linli, out, sender=ConsoleSender(out))
    await console.seat_everyone()
    await console.say("/as 李红")
    await console.say("帮助")
    clock.advance(minutes=1)
    await file_report(p[WANG], api)
    async with demo.session() as s:
        rows = (await s.execute(select(Outbox).where(Outbox.kind == "task"))).scalars().all()
        by_person = {r.person_id: r.channel for r in rows}
        li = (await s.execute(select(Person).where(Person.name == "李红"))).scalar_one()
        sun = (await s.execute(select(Person).where(Person.name == "孙强"))).scalar_one()
        assert li.id is not None and sun.id is not None
        # Both an account on Telegram and a console seat: Telegram, however recent the seat.
        seats = (
            (await s.execute(select(ChannelAccount).where(ChannelAccount.person_id == li.id)))
            .scalars()
            .all()
        )
        assert sorted(a.channel for a in seats) == ["console", "telegram"]
        seat = next(a for a in seats if a.channel == "console")
        assert seat.last_seen_at > next(a for a in seats if a.channel == "telegram").last_seen_at
        assert by_person[li.id] == "telegram"
        # Only a console seat (nobody linked 孙强 to a chat app): the console is his address.
        only_console = await account_for(s, sun.id)
        assert only_console is not None and only_console.channel == "console"
        # Telegram blocked and a console seat: unreachable, not "delivered" to the terminal.
        tg = next(a for a in seats if a.channel == "telegram")
        tg.blocked_at = clock()
        await s.flush()
        assert await account_for(s, li.id) is None
        best = (await s.execute(select(best_account_id()).where(Person.id == li.id))).scalar()
        assert best is None
    await deliver(app, demo, clock)
    assert said(api, LI, "新任务")


async def test_quiet_hours_hold_a_push_until_they_end(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock
) -> None:
    app, p = await people(telegram, api, demo)
    li = await person(demo, "李红")
    async with demo.session() as s:
        # 10:00 in Shanghai now: quiet from 9 to 12.
        await set_quiet_hours(s, li, 9, 12)
    await file_report(p[WANG], api)
    await deliver(app, demo, clock)
    assert not said(api, LI, "新任务") and said(api, ZHANG, "新任务")
    async with demo.session() as s:
        assert await s.get(TaskOffer, (1, li.id)) is not None  # offered: it is in 我的任务
        row = (
            await s.execute(select(Outbox).where(Outbox.person_id == li.id, Outbox.kind == "task"))
        ).scalar_one()
    assert row.not_before == datetime(2026, 3, 7, 4, 0, tzinfo=UTC)  # 12:00 Shanghai
    clock.advance(hours=2)
    await deliver(app, demo, clock)
    assert said(api, LI, "新任务")


async def test_when_nobody_in_the_team_can_take_tasks_the_grid_leader_hears_at_once(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock
) -> None:
    app, p = await people(telegram, api, demo)
    tomorrow = (clock() + timedelta(days=2)).date()
    async with demo.session() as s:
        for name in ("李红", "张伟", "朱凡"):
            who = (await s.execute(select(Person).where(Person.name == name))).scalar_one()
            await pause(s, who, tomorrow, clock())
    await deliver(app, demo, clock)
    assert said(api, ZHU, f"「{STEWARDS}」现在没有可接单的成员")
    await file_report(p[WANG], api)
    await deliver(app, demo, clock)
    # At once, not after the ladder's four hours; the paused volunteers get nothing.
    assert said(api, ZHU, "负责的队伍现在没有可接单的成员")
    assert not said(api, LI, "新任务") and not said(api, ZHANG, "新任务")
    async with demo.session() as s:
        offered = (await s.execute(select(TaskOffer.person_id))).scalars().all()
    zhu = await person(demo, "朱凡")
    assert offered == [zhu.id]  # the grid leader (fallback), nobody paused


async def test_the_team_leader_keeps_the_roster_and_a_forged_button_changes_nothing(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock
) -> None:
    app, p = await people(telegram, api, demo)
    roster = await p[LI].press_payload("intent:myteam")
    assert any("队员名单" in label for s in roster for label, _ in s.buttons)
    shown = texts(await p[LI].press("队员名单"))
    assert "朱凡" in shown and "张伟" in shown and "0.0 小时" in shown and "队长" in shown
    async with demo.session() as s:
        team = (await s.execute(select(Team).where(Team.name == STEWARDS))).scalar_one()
    zhang = await person(demo, "张伟")
    # 张伟 is no leader: his forged payload is refused and nothing changes.
    forged = texts(await p[ZHANG].press_payload(f"team:deact:{team.id}:{zhang.id}"))
    assert "没有找到这个队伍" in forged
    async with demo.session() as s:
        member = await s.get(TeamMember, (team.id, zhang.id))
        assert member is not None and member.active
    await p[LI].press("张伟")
    assert "已设为停用" in texts(await p[LI].press("设为停用"))
    await file_report(p[WANG], api)
    await deliver(app, demo, clock)
    assert said(api, LI, "新任务") and not said(api, ZHANG, "新任务")


async def test_joining_a_team_that_asks_for_approval_waits_for_the_grid_leader(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock
) -> None:
    app, p = await people(telegram, api, demo)
    # 张伟 joins the mediators (needs approval): no dispute reaches him before that.
    await p[ZHANG].press_payload("team:join")
    await p[ZHANG].press("乐清网格调解小组")
    waiting = texts(await p[ZHANG].press("完成"))
    assert "等队长批准" in waiting
    await deliver(app, demo, clock)
    assert said(api, ZHU, "张伟 申请加入「乐清网格调解小组」")
    assert "已批准 张伟" in texts(await p[ZHU].press("批准加入"))
    await deliver(app, demo, clock)
    assert said(api, ZHANG, "已获批准")


async def test_an_invitation_naming_a_team_makes_the_person_a_member(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock
) -> None:
    app = await telegram()
    await link(demo, 35, "刘芳")
    liu = TelegramUser(app, api, 35)
    await liu.send("🔑 邀请码")
    await liu.press("志愿者")
    assert "要直接加入哪个队伍" in texts(await liu.press("乐清网格"))
    await liu.press(STEWARDS)
    await liu.press("环境卫生")
    await liu.press("杂物堆放")
    created = texts(await liu.press("完成"))
    assert f"直接成为「{STEWARDS}」队员" in created
    code = re.search(r"[A-HJ-NP-Z2-9]{8}", created)
    assert code is not None
    newcomer = TelegramUser(app, api, 77, "钱多多")
    await newcomer.send(f"/start {code.group()}")
    welcome = texts(await newcomer.send("钱多多"))
    assert f"您已加入「{STEWARDS}」" in welcome and "请选择要加入的队伍" not in welcome
    qian, manager = await person(demo, "钱多多"), await person(demo, "刘芳")
    async with demo.session() as s:
        team = (await s.execute(select(Team).where(Team.name == STEWARDS))).scalar_one()
        member = await s.get(TeamMember, (team.id, qian.id))
        assert member is not None and member.skills == ["clutter", "hygiene"] and member.approved
        # Only a volunteer invitation names a team, and only one of its grid.
        for role, grid in (("resident", team.grid_id), ("volunteer", (team.grid_id or 0) + 1)):
            with pytest.raises(DomainError) as refused:
                await create_invitation(
                    s, manager, await active_roles(s, manager), role=role, grid_id=grid,
                    now=clock(), team_id=team.id,
                )  # fmt: skip
            assert refused.value.key == "invite.bad_team"


async def test_files_the_bot_writes_go_to_the_configured_folder(
    linli: Linli, settings: Settings, demo: Database
) -> None:
    out = io.StringIO()
    console = ConsoleChat(linli, out)
    await console.say("/as 刘芳")
    await console.say("🔑 邀请码")
    await console.say("1")  # resident
    await console.say("1")  # the first grid
    folder = Path(settings.files_dir) / "console"
    posters = list(folder.glob("invite-*.png"))
    assert len(posters) == 1 and posters[0].read_bytes().startswith(b"\x89PNG")
    assert str(folder) in out.getvalue() and "/tmp/linli-console" not in out.getvalue()


def test_dates_and_hours_are_read_the_way_people_type_them() -> None:
    today = date(2026, 3, 7)
    assert parse_date("2026-03-20", today) == date(2026, 3, 20)
    assert parse_date("3-20", today) == date(2026, 3, 20)
    assert parse_date("３月２０日", today) == date(2026, 3, 20)
    assert parse_date("1/5", today) == date(2027, 1, 5)  # passed this year: next year's
    assert parse_date("2-30", today) is None and parse_date("下周", today) is None
    assert parse_hours("22-7") == (22, 7) and parse_hours("22:00-07:00") == (22, 7)
    assert parse_hours("21点到8点") == (21, 8)
    assert parse_hours("25-7") is None and parse_hours("8-8") is None
    zone = ZoneInfo("Asia/Shanghai")
    night = TeamMember(team_id=1, person_id=1, quiet_from=22, quiet_to=7)
    at = datetime(2026, 3, 7, 23, 30, tzinfo=zone)
    assert quiet_end(night, at, zone) == datetime(2026, 3, 8, 7, 0, tzinfo=zone)
    assert quiet_end(night, at.replace(hour=6), zone) == datetime(2026, 3, 7, 7, 0, tzinfo=zone)
    assert quiet_end(night, at.replace(hour=7), zone) is None
    noon = TeamMember(team_id=1, person_id=1, quiet_from=12, quiet_to=14)
    assert quiet_end(noon, at.replace(hour=13), zone) == datetime(2026, 3, 7, 14, 0, tzinfo=zone)
    assert quiet_end(noon, at.replace(hour=14), zone) is None


async def test_bad_answers_in_the_team_dialogues_change_nothing(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock
) -> None:
    _app, p = await people(telegram, api, demo)
    li = p[LI]
    await li.send("/team")
    await li.press("暂停接单")
    assert "没看懂这个日期" in texts(await li.send("下个月吧"))
    assert "日期要在今天之后" in texts(await li.send("2026-03-01"))
    assert "日期要在今天之后" in texts(await li.send("2028-03-01"))
    assert "已取消" in texts(await li.send("取消"))
    await li.send("/team")
    await li.press("免打扰时段")
    assert "免打扰时段要写成" in texts(await li.send("晚上"))
    assert "免打扰时段要写成" in texts(await li.send("25-7"))
    assert "已取消" in texts(await li.send("取消"))
    await li.send("/team")
    await li.press("修改技能")
    assert "请点选技能" in texts(await li.send("什么都会"))
    assert "已取消" in texts(await li.send("取消"))
    for forged in ("team:leave:x", "team:skills:999", "team:roster:999", "team:approve:1"):
        answer = texts(await li.press_payload(forged))
        assert any(w in answer for w in ("失效", "没有找到", "不在这个队伍")), (forged, answer)
    # A resident (no volunteer) cannot use the volunteers' buttons at all.
    assert "志愿者" in texts(await p[WANG].press_payload("team:pause"))
    async with demo.session() as s:
        rows = (await s.execute(select(TeamMember))).scalars().all()
    assert all(m.paused_until is None and m.quiet_from is None for m in rows)
    assert {tuple(m.skills) for m in rows} == {()}
    assert len(rows) == 5  # the demo's three stewards and two mediators, untouched


def test_free_text_about_my_team_finds_it_and_reports_still_win() -> None:
    detector = FeatureSet(FEATURES).detector
    assert detector.detect("我想暂停接单几天") == "myteam"
    assert detector.detect("how do I set quiet hours") == "myteam"
    assert detector.detect("楼道里堆满了杂物") == "report"
    assert detector.detect("我的任务") == "tasks"
