"""The delivery engine: outbox, worker, limits, notices, reminders — against the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from telegram import Bot

from bot.channels.telegram_channel import TelegramSender
from bot.delivery import ChannelLimits, DeliverySettings, DeliveryWorker
from models.db import Database
from models.errors import DomainError
from models.notices import (
    Audience,
    Notice,
    NoticeStatus,
    Scope,
    cancel_notice,
    count_audience,
    create_notice,
    notice_report,
    report_progress,
    start_due_notices,
    toggle_mute,
)
from models.outbox import enqueue
from models.people import active_roles
from models.reminders import Reminder, fire_due_reminders, remind
from models.tables import Building, ChannelAccount, Grid, Outbox, Person
from tests.conftest import FakeClock
from tests.fakes.telegram import TOKEN, FakeBotApi, RecordingRequest
from tests.telegram_chat import link, person_named

FAST = ChannelLimits(per_second=1000.0, per_chat_interval=0.0, per_group_per_minute=6000.0)
PEOPLE = ["刘芳", "朱凡", "周杰", "陈秀英", "王建国", "李红", "张伟", "赵敏", "孙强"]


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(
        TOKEN, base_url="https://api.telegram.invalid/bot", request=RecordingRequest(api)
    ) as b:
        yield b


@pytest.fixture
def make_worker(demo: Database, clock: FakeClock, bot: Bot) -> Callable[..., DeliveryWorker]:
    def make(
        limits: ChannelLimits = FAST, db: Database | None = None, **tuning: int
    ) -> DeliveryWorker:
        settings = DeliverySettings(**{"concurrency": 4, "flush_every": 3, "batch": 50, **tuning})
        return DeliveryWorker(db or demo, [TelegramSender(bot, limits)], settings, clock=clock)

    return make


async def link_everyone(db: Database) -> dict[str, int]:
    """Every demo person gets a Telegram account; returns name → chat id."""
    chats = {}
    for i, name in enumerate(PEOPLE):
        chats[name] = 1000 + i
        await link(db, 1000 + i, name)
    return chats


async def manager(db: Database) -> tuple[Person, frozenset[tuple[str, int | None]]]:
    person = await person_named(db, "刘芳")
    async with db.session() as s:
        return person, await active_roles(s, person)


async def test_enqueue_is_idempotent_and_reaches_one_account_per_person(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    chen = await person_named(demo, "陈秀英")
    await link(demo, 2001, "陈秀英")
    await link(demo, 2002, "陈秀英")  # her daughter's phone, used more recently: that one wins
    async with demo.session() as s:
        for external_id, seen in (("2001", clock() - timedelta(days=1)), ("2002", clock())):
            account = (
                await s.execute(
                    select(ChannelAccount).where(ChannelAccount.external_id == external_id)
                )
            ).scalar_one()
            account.last_seen_at = seen
        first = await enqueue(
            s, person_id=chen.id, kind="test", dedupe_key="k1", now=clock(), text="你好"
        )
        again = await enqueue(
            s, person_id=chen.id, kind="test", dedupe_key="k1", now=clock(), text="你好"
        )
    assert (first, again) == (True, False)
    assert await make_worker().drain() == 1
    assert [m.text for m in api.to_chat(2002)] == ["你好"] and api.to_chat(2001) == []


async def test_audiences_against_the_demo_community(demo: Database, clock: FakeClock) -> None:
    await link_everyone(demo)
    author, roles = await manager(demo)
    scope = Scope.of(author.community_id, roles)
    async with demo.session() as s:
        leqing = (await s.execute(select(Grid).where(Grid.name == "乐清网格"))).scalar_one()
        building3 = (
            await s.execute(
                select(Building).where(Building.estate == "虹桥南村", Building.number == "3")
            )
        ).scalar_one()
        today = clock().date()
        count = {
            name: (await count_audience(s, scope, audience, arg, "general", today)).people
            for name, audience, arg in [
                ("all", Audience.COMMUNITY, None),
                ("leqing", Audience.GRID, leqing.id),
                ("building3", Audience.BUILDING, building3.id),
                ("volunteers", Audience.VOLUNTEERS, None),
                ("reps", Audience.REPRESENTATIVES, None),
                ("couriers", Audience.COURIERS, None),
                ("elderly", Audience.ELDERLY, None),
            ]
        }
        in_two_weeks = (
            await count_audience(
                s, scope, Audience.ELDERLY, None, "general", today + timedelta(days=15)
            )
        ).people
    assert count == {
        "all": 9,
        "leqing": 6,
        "building3": 1,
        "volunteers": 3,
        "reps": 1,
        "couriers": 1,
        "elderly": 0,
    }
    assert in_two_weeks == 1, "陈秀英 turns 80 in two weeks"


async def test_grid_leader_cannot_reach_beyond_their_grid(demo: Database, clock: FakeClock) -> None:
    zhu = await person_named(demo, "朱凡")
    async with demo.session() as s:
        roles = await active_roles(s, zhu)
        lemei = (await s.execute(select(Grid).where(Grid.name == "乐美网格"))).scalar_one()
        with pytest.raises(DomainError) as refused:
            await create_notice(s, zhu, roles, audience=Audience.GRID, arg=lemei.id, category="general",
                                text="x", now=clock())  # fmt: skip
        assert refused.value.key == "error.forbidden"
        mine = await count_audience(
            s,
            Scope.of(zhu.community_id, roles),
            Audience.COMMUNITY,
            None,
            "general",
            clock().date(),
        )
    assert mine.people == 6


async def test_notice_reaches_everyone_once_and_the_report_adds_up(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    chats = await link_everyone(demo)
    await link(demo, 3000, "赵敏")  # a second, newer account for one person
    api.blocked.add(str(chats["王建国"]))
    api.missing.add(str(chats["孙强"]))
    author, roles = await manager(demo)
    async with demo.session() as s:
        notice = await create_notice(s, author, roles, audience=Audience.COMMUNITY, arg=None,
                                     category="general", text="周六上午大扫除", now=clock())  # fmt: skip
    assert notice.recipients == 9
    await make_worker().drain()
    got = {name: [m.text for m in api.to_chat(c)] for name, c in chats.items()}
    assert got["陈秀英"] == ["周六上午大扫除"]
    assert got["赵敏"] == [] and [m.text for m in api.to_chat(3000)] == ["周六上午大扫除"]
    async with demo.session() as s:
        report = await notice_report(s, notice.id)
        assert (report.sent, report.blocked, report.failed, report.pending) == (7, 1, 1, 0)
        blocked = (
            await s.execute(
                select(ChannelAccount).where(ChannelAccount.external_id == str(chats["王建国"]))
            )
        ).scalar_one()
        assert blocked.blocked_at is not None
        assert await report_progress(s, clock()) == 1
        assert (await s.get(Notice, notice.id)).status == NoticeStatus.DONE
    await make_worker().drain()
    final = api.to_chat(chats["刘芳"])[-1].text
    assert "发送完毕" in final and "已送达 7" in final and "已屏蔽 1" in final and "失败 1" in final


async def test_blocked_account_is_skipped_next_time(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    chats = await link_everyone(demo)
    api.blocked.add(str(chats["陈秀英"]))
    author, roles = await manager(demo)
    for text in ("第一条", "第二条"):
        async with demo.session() as s:
            await create_notice(s, author, roles, audience=Audience.COMMUNITY, arg=None, category="general",
                                text=text, now=clock())  # fmt: skip
        await make_worker().drain()
    tries = [chat for _, chat, _ in api.send_log if chat == str(chats["陈秀英"])]
    assert len(tries) == 1, "after the 403 nothing more is sent to that account"


async def test_muted_category_is_not_sent_but_urgent_is(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    chats = await link_everyone(demo)
    chen = await person_named(demo, "陈秀英")
    async with demo.session() as s:
        assert await toggle_mute(s, chen.id, "activity") is True
    author, roles = await manager(demo)
    async with demo.session() as s:
        await create_notice(s, author, roles, audience=Audience.COMMUNITY, arg=None, category="activity",
                            text="周末手工活动", now=clock())  # fmt: skip
        await create_notice(s, author, roles, audience=Audience.COMMUNITY, arg=None, category="urgent",
                            text="燃气泄漏，请勿用火", now=clock())  # fmt: skip
    await make_worker().drain()
    assert [m.text for m in api.to_chat(chats["陈秀英"])] == ["燃气泄漏，请勿用火"]
    assert len(api.to_chat(chats["李红"])) == 2


async def test_429_pauses_the_whole_channel_for_retry_after(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    chats = await link_everyone(demo)
    api.throttle_next = 1
    api.retry_after = 1
    author, roles = await manager(demo)
    async with demo.session() as s:
        await create_notice(s, author, roles, audience=Audience.COMMUNITY, arg=None, category="general",
                            text="通知", now=clock())  # fmt: skip
    worker = make_worker(concurrency=1)
    await worker.drain()
    throttled_at = next(t for t, _, status in api.send_log if status == 429)
    after = [t for t, _, status in api.send_log if status == 200]
    assert len(after) == len(chats)
    assert min(after) - throttled_at >= 0.95, "nothing went out before retry_after"
    assert worker.channels["telegram"].http_429 == 1


async def test_the_worker_keeps_telegram_limits(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    """Paced at the ceiling, nothing is refused: several messages to one chat wait their second."""
    from tests.fakes.telegram import Limits

    await link(demo, 4000, "陈秀英")
    chen = await person_named(demo, "陈秀英")
    api.limits = Limits(per_second=50, per_chat_interval=0.2)
    async with demo.session() as s:
        for i in range(4):
            await enqueue(
                s, person_id=chen.id, kind="test", dedupe_key=f"r{i}", now=clock(), text=f"消息{i}"
            )
    await make_worker(ChannelLimits(per_second=50, per_chat_interval=0.2)).drain()
    assert api.http_429 == 0
    assert [m.text for m in api.to_chat(4000)] == [f"消息{i}" for i in range(4)]


async def test_scheduled_notice_fires_once_after_a_restart(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    chats = await link_everyone(demo)
    author, roles = await manager(demo)
    async with demo.session() as s:
        notice = await create_notice(s, author, roles, audience=Audience.VOLUNTEERS, arg=None, category="activity",
                                     text="明早志愿服务", now=clock(), scheduled_at=clock() + timedelta(hours=1))  # fmt: skip
        assert await start_due_notices(s, clock()) == []
    # The service is down past the time; a new process starts and its clock ticks twice.
    clock.advance(hours=2)
    for _ in range(2):
        async with demo.session() as s:
            await start_due_notices(s, clock())
    await make_worker().drain()
    await make_worker().drain()
    for name in ("朱凡", "李红", "张伟"):
        assert [m.text for m in api.to_chat(chats[name])] == ["明早志愿服务"]
    async with demo.session() as s:
        assert (await s.get(Notice, notice.id)).recipients == 3


async def test_cancelling_a_running_notice_stops_what_is_not_sent(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    await link_everyone(demo)
    author, roles = await manager(demo)
    async with demo.session() as s:
        notice = await create_notice(s, author, roles, audience=Audience.COMMUNITY, arg=None, category="general",
                                     text="取消测试", now=clock())  # fmt: skip
        _, cancelled = await cancel_notice(s, notice.id, author, roles, clock())
    assert cancelled == 9
    assert await make_worker().drain() == 0
    async with demo.session() as s:
        report = await notice_report(s, notice.id)
    assert (report.cancelled, report.sent, report.pending) == (9, 0, 0)


async def test_reminders_on_time_late_or_skipped(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    await link(demo, 5000, "陈秀英")
    chen = await person_named(demo, "陈秀英")
    start = clock()
    async with demo.session() as s:
        assert await remind(
            s, chen.id, start + timedelta(minutes=30), "visit:1", "网格长朱凡10点上门", now=start
        )
        assert not await remind(
            s, chen.id, start + timedelta(minutes=30), "visit:1", "网格长朱凡10点上门", now=start
        )
        await remind(s, chen.id, start + timedelta(minutes=31), "pill:1", "记得吃降压药", now=start,
                     grace=timedelta(minutes=5))  # fmt: skip
        await remind(s, chen.id, start + timedelta(hours=3), "event:1", "下午手工活动", now=start)
    # The service was down from before 10:30 until 10:45 (local time).
    clock.advance(minutes=45)
    async with demo.session() as s:
        counts = await fire_due_reminders(s, clock())
        assert await fire_due_reminders(s, clock()) == {
            "sent": 0,
            "late": 0,
            "skipped": 0,
            "unreachable": 0,
        }
    assert counts == {"sent": 0, "late": 1, "skipped": 1, "unreachable": 0}
    await make_worker().drain()
    texts = [m.text for m in api.to_chat(5000)]
    assert len(texts) == 1 and "原定 03-07 10:30" in texts[0] and "网格长朱凡10点上门" in texts[0]
    async with demo.session() as s:
        skipped = (await s.execute(select(Reminder).where(Reminder.key == "pill:1"))).scalar_one()
        assert skipped.status == "skipped" and skipped.late_seconds == 14 * 60
    clock.advance(hours=3)
    async with demo.session() as s:
        assert (await fire_due_reminders(s, clock()))[
            "late"
        ] == 1  # 3 h later is more than a minute late
    await make_worker().drain()
    assert len(api.to_chat(5000)) == 2


async def test_two_workers_never_send_the_same_row(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker, database_url: str
) -> None:
    for i in range(60):
        async with demo.session() as s:
            p = Person(
                community_id=(await person_named(demo, "刘芳")).community_id,
                name=f"居民{i}",
                verified=True,
            )
            s.add(p)
            await s.flush()
            s.add(
                ChannelAccount(
                    channel="telegram",
                    external_id=str(7000 + i),
                    chat_id=str(7000 + i),
                    person_id=p.id,
                )
            )
    author, roles = await manager(demo)
    async with demo.session() as s:
        notice = await create_notice(s, author, roles, audience=Audience.COMMUNITY, arg=None, category="general",
                                     text="两个工人", now=clock())  # fmt: skip
    other_db = Database(database_url)
    try:
        one, two = make_worker(batch=7), make_worker(batch=7, db=other_db)
        sent = await asyncio.gather(one.drain(), two.drain())
    finally:
        await other_db.dispose()
    assert sum(sent) == notice.recipients == 60
    per_chat = [chat for _, chat, status in api.send_log if status == 200]
    assert len(per_chat) == len(set(per_chat)) == 60
    async with demo.session() as s:
        assert (
            await s.execute(select(func.count()).select_from(Outbox).where(Outbox.status == "sent"))
        ).scalar() == 60


async def test_rows_whose_lease_runs_out_in_the_queue_are_not_sent_twice(
    demo: Database, clock: FakeClock, api: FakeBotApi, make_worker
) -> None:
    chats = await link_everyone(demo)
    author, roles = await manager(demo)
    async with demo.session() as s:
        await create_notice(s, author, roles, audience=Audience.COMMUNITY, arg=None, category="general",
                            text="慢慢发", now=clock())  # fmt: skip
    # A lease that is over as soon as it is taken: every queued row looks abandoned.
    worker = make_worker(concurrency=1, batch=3, lease=timedelta(seconds=-1))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await api.wait_until(lambda: len({c for _, c, ok in api.send_log if ok == 200}) == len(chats))
    await worker.settled()
    stop.set()
    await running
    for chat in chats.values():
        assert len(api.to_chat(chat)) == 1


def test_a_pause_holds_back_slots_already_reserved_and_a_stall_does_not_bunch_sends() -> None:
    from bot.delivery import Pacer

    now = [100.0]
    pacer = Pacer(10, now=lambda: now[0])  # a slot every 0.1 s
    first = [now[0] + pacer.reserve() for _ in range(3)]
    assert first == pytest.approx([100.0, 100.1, 100.2])
    pacer.pause(1.0)  # a 429 arrives before the reserved slots come
    now[0] = 100.2
    assert not pacer.still_good(100.2), "inside the pause: take a new slot"
    assert 100.2 + pacer.reserve() == pytest.approx(101.0)
    now[0] = 103.0  # the loop stalled for two seconds
    assert not pacer.still_good(101.1), "late by more than a slot: do not go out in a bunch"
    assert pacer.still_good(102.95)
