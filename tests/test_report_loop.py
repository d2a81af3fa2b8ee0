"""The civic loop across three people: a resident reports, a volunteer fixes, the resident rates.

Every script runs on Telegram and on WeChat (the `chat` fixture, tests/chat.py), everyone on
the run's channel. Telegram-only steps (a picture sent as a file with its size) say why.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from models.db import Database
from models.reports import Rating, Report, ReportEvent, ReportFollower, ReportPhoto, escalate
from models.tasks import Task, VolunteerHours, credit_hours
from tests.chat import Chat, Participant, labels
from tests.conftest import FakeClock
from tests.telegram_chat import texts

WANG, LI, ZHANG, ZHU, LIU, ZHAO, ZHOU = 31, 32, 33, 34, 35, 36, 37


async def people(chat: Chat) -> dict[int, Participant]:
    """The seven people of the loop, each linked on the run's channel."""
    return {
        uid: await chat.person(name, uid)
        for uid, name in ((WANG, "王建国"), (LI, "李红"), (ZHANG, "张伟"), (ZHU, "朱凡"),
                          (LIU, "刘芳"), (ZHAO, "赵敏"), (ZHOU, "周杰"))
    }  # fmt: skip


async def file_report(wang: Participant, *, photo: str = "junk-before") -> str:
    """王建国 reports junk behind building 3 with a photo; returns the confirmation text."""
    asked = await wang.send("3幢后面堆了好多杂物")
    assert "是什么问题" in texts(asked)
    assert "杂物堆放" in asked[-1].buttons[0][0], "the guessed category comes first"
    photos = await wang.press("杂物堆放")
    assert "有照片吗" in texts(photos)
    more = await wang.photo(photo)
    assert "已收到 1 张照片" in texts(more)
    where = await wang.press("好了")
    assert "在哪里" in texts(where)
    assert any("虹桥南村3幢" in label for label, _ in where[-1].buttons), "3幢 from the words"
    confirm = await wang.press("虹桥南村3幢")
    assert "请确认" in texts(confirm) and "杂物堆放" in texts(confirm)
    return texts(await wang.press("✅ 提交"))


async def test_the_whole_loop_report_take_finish_rate_and_hours(
    chat: Chat, demo: Database, clock: FakeClock
) -> None:
    p = await people(chat)
    wang, li, zhang = p[WANG], p[LI], p[ZHANG]

    done = await file_report(wang)
    assert "已受理，编号 R0001" in done and "4 小时内" in done

    # The task reaches the 乐清 steward team (朱凡, 李红, 张伟), not the other grid.
    await chat.deliver()
    for uid in (LI, ZHANG, ZHU):
        push = p[uid].last
        assert "新任务" in push.text and "虹桥南村3幢" in push.text
        assert any("接单" in label for label, _ in push.buttons)
    assert not p[ZHOU].told("新任务")

    # 李红 looks: no reporter name or phone on her card.
    pictures_before = li.photos.count("junk-before")
    card = await li.press("查看")
    assert "未公开联系方式" in texts(card)
    assert "王建国" not in texts(card) and "13800000005" not in texts(card)
    if chat.telegram:  # the photo is part of Telegram's answer
        assert any(s.photo_id == "junk-before" for s in card), [
            (c.method, c.text[:30], c.photo_id) for c in card
        ]
    await chat.deliver()  # WeChat: the answer's picture follows the passive reply, by the API
    assert li.photos.count("junk-before") == pictures_before + 1

    taken = await li.press("接单")
    assert "接单成功" in texts(taken)
    late = await zhang.press("接单")
    assert "已由 李红 接单" in texts(late)
    await chat.deliver()
    assert wang.told("李红 接单")
    assert zhang.told("已由 李红 接单")

    # She finishes with an after-photo and the time it took.
    asked = await li.press("完成")
    assert "处理后的照片" in texts(asked)
    no_photo = await li.send("好了")
    assert "需要一张处理后的照片" in texts(no_photo)
    await li.photo("junk-after")
    finished = await li.press("1 小时")
    assert "任务 #1 已完成" in texts(finished)
    again = await li.press_payload("task:finish:1")
    assert "已经完成" in texts(again), "finishing twice is a no-op with a clear answer"

    await chat.deliver()
    told = wang.last
    assert "处理完成" in told.text
    if chat.telegram:  # one photo message, the text as its caption
        assert told.photo_id == "junk-after"
    else:  # WeChat: the picture is a message of its own, sent just before the text
        assert wang.messages[-2].photo_id == "junk-after"
    assert any("⭐⭐⭐⭐⭐" in label for label, _ in told.buttons)

    # No hours before the rating (and not 72 hours yet).
    async with demo.session() as s:
        assert await credit_hours(s, clock()) == 0

    thanks = await wang.press("⭐⭐⭐⭐⭐")
    assert "已办结" in texts(thanks) and "还想说两句" in texts(thanks)
    assert "谢谢" in texts(await wang.send("很及时，谢谢志愿者"))
    assert "已经评价过" in texts(await wang.press_payload("rate:1:5"))

    async with demo.session() as s:
        assert await credit_hours(s, clock()) == 1
        assert await credit_hours(s, clock()) == 0, "credited once"
    async with demo.session() as s:
        report = await s.get(Report, 1)
        assert report is not None and report.state == "closed"
        rating = (await s.execute(select(Rating))).scalar_one()
        assert rating.stars == 5 and rating.comment == "很及时，谢谢志愿者"
        hours = (await s.execute(select(VolunteerHours))).scalar_one()
        assert hours.minutes == 60
        actions = [
            e.action
            for e in (await s.execute(select(ReportEvent).order_by(ReportEvent.id))).scalars()
        ]
        assert actions == ["created", "taken", "done", "rated"]
    assert "共 1.0 小时" in texts(await li.send("⏱ 我的时长"))


async def test_two_volunteers_press_take_at_the_same_moment(chat: Chat, demo: Database) -> None:
    p = await people(chat)
    await file_report(p[WANG])
    answers = await asyncio.gather(
        p[LI].press_payload("task:take:1"), p[ZHANG].press_payload("task:take:1")
    )
    won = [a for a in answers if "接单成功" in texts(a)]
    lost = [a for a in answers if "慢了一步" in texts(a)]
    assert len(won) == 1 and len(lost) == 1
    async with demo.session() as s:
        task = await s.get(Task, 1)
        assert task is not None and task.state == "taken" and task.assignee_id is not None


async def finish_as(volunteer: Participant, task_id: int) -> None:
    """The volunteer takes and finishes the task with an after-photo, 30 minutes."""
    await volunteer.press_payload(f"task:take:{task_id}")
    await volunteer.press_payload(f"task:finish:{task_id}")
    await volunteer.photo(f"after-{task_id}")
    assert "已完成" in texts(await volunteer.press("30 分钟"))


async def test_a_neighbour_joins_the_same_report_instead_of_filing_a_duplicate(
    chat: Chat, demo: Database
) -> None:
    p = await people(chat)
    await file_report(p[WANG])
    chen = await chat.person("陈秀英", 38)
    await chen.send("随手拍")
    await chen.press("杂物堆放")
    await chen.send("楼后面的杂物好几天没人管")
    await chen.press("没有照片")
    offered = await chen.press("虹桥南村3幢")
    assert "附近已有人报过" in texts(offered) and "R0001" in texts(offered)
    joined = await chen.press("就是这件")
    assert "已关注 R0001" in texts(joined)
    async with demo.session() as s:
        assert (await s.execute(select(func.count()).select_from(Report))).scalar_one() == 1
        followers = (await s.execute(select(ReportFollower))).scalars().all()
        assert len(followers) == 2

    await finish_as(p[LI], 1)
    await chat.deliver()
    assert chen.told("处理完成"), "the follower hears it was done"


async def test_everyone_declines_then_the_grid_leader_assigns_a_named_volunteer(
    chat: Chat, demo: Database
) -> None:
    p = await people(chat)
    await file_report(p[WANG])
    for uid in (LI, ZHANG, ZHU):
        assert "留给其他人" in texts(await p[uid].press_payload("task:decline:1"))
    assert "已经表示过" in texts(await p[LI].press_payload("task:decline:1"))
    await chat.deliver()
    assert p[ZHU].told("大家都表示接不了")

    # A volunteer's forged payload cannot assign.
    forged = await p[LI].press_payload(f"task:assignto:1:{LI}")
    assert "没有权限" in texts(forged) or "无权" in texts(forged)
    pick = await p[ZHU].press("指派")
    assert "派给谁" in texts(pick)
    assigned = await p[ZHU].press("张伟")
    assert "已派给 张伟" in texts(assigned)
    await chat.deliver()
    assert p[ZHANG].told("派给您的任务 #1")

    # 张伟 hands it back; 李红 (who declined before) is not asked again, the leader is told.
    assert "已退回" in texts(await p[ZHANG].press_payload("task:back:1"))
    await chat.deliver()
    assert p[ZHU].told("被志愿者退回")
    async with demo.session() as s:
        task = await s.get(Task, 1)
        assert task is not None and task.state == "open" and task.assignee_id is None
        report = await s.get(Report, 1)
        assert report is not None and report.state == "new"


async def test_escalation_ladder_runs_on_the_injected_clock(
    chat: Chat, demo: Database, clock: FakeClock
) -> None:
    p = await people(chat)
    await file_report(p[WANG])
    clock.advance(hours=3, minutes=59)
    async with demo.session() as s:
        assert await escalate(s, clock()) == 0
    clock.advance(minutes=2)
    async with demo.session() as s:
        assert await escalate(s, clock()) == 1
    async with demo.session() as s:
        assert await escalate(s, clock()) == 0, "a rung is climbed once"
    await chat.deliver()
    assert p[ZHU].told("超过 4 小时无人接单")
    assert p[WANG].told("已转给网格长督办")

    await p[LI].press_payload("task:take:1")
    clock.advance(days=3)
    async with demo.session() as s:
        assert await escalate(s, clock()) == 1
    await chat.deliver()
    assert p[LIU].told("仍未办结")
    assert p[WANG].told("已上报社区督办")


async def test_chasing_is_once_a_day_and_goes_up_when_overdue(
    chat: Chat, demo: Database, clock: FakeClock
) -> None:
    p = await people(chat)
    await file_report(p[WANG])
    await p[LI].press_payload("task:take:1")
    await chat.deliver()
    cases = await p[WANG].send("📋 我的事项")
    assert "R0001" in texts(cases)
    await p[WANG].press("查看 R0001")
    chased = await p[WANG].press("催办")
    assert "通知了 1 位" in texts(chased)
    again = await p[WANG].press_payload("report:chase:1")
    assert "24 小时内只能催办一次" in texts(again)
    await chat.deliver()
    assert p[LI].told("居民催办")

    clock.advance(hours=25)  # now overdue: the grid leader hears it too
    assert "通知了 2 位" in texts(await p[WANG].press_payload("report:chase:1"))
    # Someone who does not follow the case cannot chase it.
    assert "没有找到" in texts(await p[ZHAO].press_payload("report:chase:1"))


async def test_two_stars_reopen_the_case_and_tell_the_grid_leader(
    chat: Chat, demo: Database, clock: FakeClock
) -> None:
    p = await people(chat)
    await file_report(p[WANG])
    await finish_as(p[LI], 1)
    assert "请点星星按钮" in texts(await p[WANG].press_payload("rate:1:9"))
    reopened = await p[WANG].press_payload("rate:1:2")
    assert "已重新打开" in texts(reopened)
    await chat.deliver()
    assert p[ZHU].told("评价 2 星")
    async with demo.session() as s:
        report = await s.get(Report, 1)
        assert report is not None and report.state == "reopened" and report.task_id == 2
        new_task = await s.get(Task, 2)
        assert new_task is not None and new_task.state == "open"
    assert p[ZHANG].told("新任务 #2")
    # The hours of the first task are credited (it was rated), once.
    async with demo.session() as s:
        assert await credit_hours(s, clock()) == 1
        assert await credit_hours(s, clock()) == 0


async def test_hours_are_credited_after_72_hours_without_a_rating(
    chat: Chat, demo: Database, clock: FakeClock
) -> None:
    p = await people(chat)
    await file_report(p[WANG])
    await finish_as(p[LI], 1)
    clock.advance(hours=71)
    async with demo.session() as s:
        assert await credit_hours(s, clock()) == 0
    clock.advance(hours=2)
    async with demo.session() as s:
        assert await credit_hours(s, clock()) == 1
    hours = await p[LI].send("/hours")
    assert "共 0.5 小时（1 次）" in texts(hours)


async def test_a_dispute_is_seen_only_by_the_grid_leader_and_the_mediators(
    chat: Chat, demo: Database
) -> None:
    p = await people(chat)
    zhao = p[ZHAO]
    await chat.link(39, "李红")  # nothing: 李红 is already linked as 32
    await p[LI].send("/report")
    await p[LI].press("邻里纠纷")
    await p[LI].send("楼上装修天天吵，想请人调解")
    await p[LI].press("没有照片")
    await p[LI].press("虹桥南村4幢")
    await p[LI].press("✅ 提交")
    await chat.deliver()
    got = {uid for uid in (WANG, ZHANG, ZHU) if p[uid].told("新任务")}
    assert got == {ZHU, WANG}, "the grid leader and the mediators (王建国), not 张伟"
    assert "没有找到" in texts(await p[ZHANG].press_payload("task:view:1"))
    assert "没有找到" in texts(await p[ZHANG].press_payload("report:view:1"))
    assert "没有找到" in texts(await zhao.press_payload("task:take:1"))
    card = await p[WANG].press_payload("task:view:1")
    assert "楼上装修" in texts(card)


async def test_bad_inputs_get_clear_answers_and_change_nothing(chat: Chat, demo: Database) -> None:
    p = await people(chat)
    wang = p[WANG]
    await wang.send("随手拍")
    await wang.press("设施损坏")
    empty = await wang.send("   ")
    assert "还没说是什么问题" in texts(empty)
    await wang.send("路灯坏了")
    answers = []
    for i in range(11):
        answers.append(texts(await wang.photo(f"lamp-{i}")))
    assert "最多 3 张照片，这张没有收下" in answers[3]
    where = answers[-1]
    assert "在哪里" in where
    if chat.telegram:  # a picture sent as a file, with its size: WeChat's messages carry none
        assert chat.api is not None
        big = await wang.deliver(chat.api.image_file_update(WANG, "huge", 10 * 1024 * 1024))
        assert "在哪里" in texts(big), "a photo at the place step is not taken as the place"
    far = await wang.location(31.2304, 121.4737)  # Shanghai
    assert "不在本社区范围内" in texts(far)
    near = await wang.location(28.1418, 120.9701)
    assert "请确认" in texts(near) and "照片：3 张" in texts(near)
    assert "虹桥南村3幢" in texts(near), "the nearest building of a shared point"
    await wang.press("✅ 提交")
    async with demo.session() as s:
        photos = (await s.execute(select(ReportPhoto))).scalars().all()
    kept = await chat.arrived_as([f"{ph.channel}:{ph.ref}" for ph in photos])
    assert kept == [chat.ref(f"lamp-{i}") for i in range(3)]

    # A 10 MB picture at the photo step is refused with its size (Telegram: WeChat's image
    # messages say nothing of the size; the endpoint never downloads them).
    await wang.send("随手拍")
    await wang.press("设施损坏")
    await wang.send("楼道灯不亮")
    if chat.telegram:
        assert chat.api is not None
        too_big = await wang.deliver(chat.api.image_file_update(WANG, "huge", 10 * 1024 * 1024))
        assert "照片太大（10.0MB）" in texts(too_big)
    await wang.send("取消")
    async with demo.session() as s:
        assert (await s.execute(select(func.count()).select_from(Report))).scalar_one() == 1


async def test_the_manager_sees_ratings_per_team_and_volunteer_with_a_chart(
    chat: Chat, demo: Database
) -> None:
    p = await people(chat)
    await file_report(p[WANG])
    await finish_as(p[LI], 1)
    await p[WANG].press_payload("rate:1:4")
    pictures = p[LIU].pictures
    seen = await p[LIU].send("⭐ 居民评议")
    assert "乐清网格红管家服务队：4.0 分（1 次）" in texts(seen)
    assert "李红：4.0 分（1 次）" in texts(seen)
    if chat.telegram:  # the chart is part of Telegram's answer
        assert any(m.photo for m in seen), "a chart picture"
    await chat.deliver()  # WeChat: uploaded as temporary media, sent after the passive reply
    assert p[LIU].pictures == pictures + 1, "a chart picture"
    if chat.wechat:  # the picture WeChat was given is the PNG chart
        assert chat.harness is not None
        uploads = [
            data[:8] for mid, data in chat.harness.server.media.items() if mid.startswith("media-")
        ]
        assert uploads == [b"\x89PNG\r\n\x1a\n"]
    assert "没有权限" in texts(await p[ZHU].send("/ratings")) or "无权" in texts(
        await p[ZHU].send("/ratings")
    )


async def test_a_steward_on_patrol_reports_and_takes_it_on_with_a_note(
    chat: Chat, demo: Database
) -> None:
    p = await people(chat)
    li = p[LI]
    await li.send("1幢楼道里堆了旧家具")
    await li.press("杂物堆放")
    await li.photo("furniture")
    await li.press("好了")
    await li.press("选其他楼栋")
    await li.press("虹桥南村1幢")
    mine = await li.press("我自己来处理")
    assert "由您处理" in texts(mine)
    assert any("备注" in label for label in labels(mine))
    note = await li.press_payload("task:note:1")
    assert "请输入备注" in texts(note)
    assert "备注已保存" in texts(await li.send("已联系物业，周六一起搬走"))
    await chat.deliver()
    assert not p[ZHANG].told("新任务"), "nobody else is asked"
    async with demo.session() as s:
        task = await s.get(Task, 1)
        assert (
            task is not None and task.state == "taken" and task.note == "已联系物业，周六一起搬走"
        )

    # The grid leader sees the open case of the grid, oldest first, with who holds it.
    listed = await p[ZHU].send("📋 网格事项")
    assert "R0001" in texts(listed) and "李红" in texts(listed)


async def test_a_photo_from_another_channel_is_named_not_lost(
    chat: Chat, demo: Database, clock: FakeClock
) -> None:
    from models.reports import Place, report_problem
    from models.tables import Person

    p = await people(chat)
    # The photo came in on the other channel than the one the volunteer reads.
    other, where = ("wechat", "微信公众号") if chat.telegram else ("telegram", "Telegram")
    async with demo.session() as s:
        wang = (await s.execute(select(Person).where(Person.name == "王建国"))).scalar_one()
        await report_problem(
            s,
            reporter=wang,
            category="facility",
            description="路灯不亮",
            place=Place(text="小区门口"),
            photos=[(other, "MEDIA_ID_1")],
            now=clock(),
        )
    pictures = p[LI].pictures
    card = await p[LI].press_payload("task:view:1")
    assert f"照片在{where}上" in texts(card)
    assert not any(m.photo for m in card)
    await chat.deliver()  # WeChat: an answer's pictures would follow through the API
    assert p[LI].pictures == pictures


async def test_a_voice_note_can_describe_the_problem(chat: Chat, demo: Database) -> None:
    p = await people(chat)
    wang = p[WANG]
    await wang.send("随手拍")
    await wang.press("环境卫生")
    # Telegram keeps the voice note as the description; WeChat sends its speech recognition.
    asked = await wang.voice("voice-1", recognition="垃圾桶满了没人清")
    assert "有照片吗" in texts(asked)
    await wang.press("没有照片")
    await wang.send("2幢门口")
    confirm = await wang.press_payload("submit:plain")
    assert "已受理" in texts(confirm)
    async with demo.session() as s:
        report = await s.get(Report, 1)
        assert report is not None and report.voice_ref == chat.ref("voice-1")
        assert report.place == "2幢门口" and report.building_id is not None
