"""尊老金 in the chat: ask, apply in a tap, review, 代办 after a home visit, the register file.

The dialogues run on Telegram and on WeChat (the `chat` fixture, tests/chat.py). The register
file is imported on Telegram only: WeChat official accounts do not receive files.
"""

from __future__ import annotations

from sqlalchemy import func, select

from models.benefits import (
    BenefitApplication,
    BenefitDocument,
    BenefitEvent,
    BenefitOutreach,
    load_catalogue,
    run_outreach,
)
from models.db import Database
from models.register import ResidentRecord
from models.tables import TaskKind
from models.tasks import Task
from tests.chat import Chat, Participant, labels
from tests.conftest import FakeClock
from tests.telegram_chat import person_named, texts

PROGRAMMES = load_catalogue()
LIU, ZHU, CHEN, WANG = 10, 20, 40, 41


async def outreach(db: Database, clock: FakeClock) -> dict[str, int]:
    async with db.session() as s:
        return await run_outreach(s, PROGRAMMES, clock())


async def the_application(db: Database) -> BenefitApplication:
    async with db.session() as s:
        return (await s.execute(select(BenefitApplication))).scalar_one()


async def chen_applies_herself(chen: Participant) -> None:
    asked = await chen.send("我能领尊老金吗")
    assert "户口在本市吗" in texts(asked)
    assert "别处领取" in texts(await chen.press("是"))
    summary = await chen.press("否")
    assert "陈秀英将在 2026-03-21 满足尊老金（高龄津贴）的年龄条件" in texts(summary)
    assert "每月 50 元，从 2026-04-01 起发放" in texts(summary)
    assert "住址：虹桥南村3幢1单元101" in texts(summary)
    assert "演示数据" in texts(summary)
    id_photo = await chen.press("确认申请")
    assert "身份证正反面照片" in texts(id_photo)
    assert "只有申请人本人、代办人和社区审核人员能看到" in texts(id_photo)
    bank = await chen.photo("idcard-photo")
    assert "银行卡" in texts(bank)
    filed = await chen.press("以后再补")
    assert "已提交尊老金（高龄津贴）申请（编号 1）" in texts(filed)


async def test_resident_asks_applies_in_a_tap_and_follows_the_review(
    chat: Chat, demo: Database
) -> None:
    chen = await chat.person("陈秀英", CHEN)
    liu = await chat.person("刘芳", LIU)
    await chen_applies_herself(chen)
    mine = await chen.send("我的申请")
    assert "编号1 尊老金（高龄津贴）（陈秀英）：已提交，等待审核" in texts(mine)

    # The manager is told, opens the queue, sees the facts and the ID photo.
    await chat.deliver()
    assert liu.told("新的尊老金（高龄津贴）申请待审核：陈秀英")
    card = await liu.press("审核")
    assert "申请人：陈秀英" in texts(card) and "80岁起，每月 50 元" in texts(card)
    if chat.telegram:  # the photo is part of Telegram's answer
        assert any(s.photo_id == "idcard-photo" for s in card)
    await chat.deliver()
    # WeChat's passive reply is one text: the answer's picture follows through the API.
    assert "idcard-photo" in liu.photos
    assert chen.told("正在审核中")

    asked = await liu.press("需要补充材料")
    assert "补充什么" in texts(asked)
    await liu.send("请补交银行卡照片")
    await chat.deliver()
    assert chen.told("需要补充：请补交银行卡照片")
    intro = await chen.press("补充材料")
    assert "请补交银行卡照片" in texts(intro)
    await chen.photo("bank-photo")
    assert "重新进入审核" in texts(await chen.press("提交"))

    await liu.send("📝 办事申请")
    again = await liu.press("审核申请")
    assert "材料照片：2 张" in texts(again)
    await liu.press("批准")
    await chat.deliver()
    assert chen.told("已批准：每月 50 元，从 2026-04-01 起发放")

    application = await the_application(demo)
    async with demo.session() as s:
        trail = (
            await s.execute(
                select(BenefitEvent.to_status, BenefitEvent.reason).order_by(BenefitEvent.id)
            )
        ).all()
    assert [t for t, _ in trail] == [
        "submitted", "under_review", "more_info", "submitted", "under_review", "approved",
    ]  # fmt: skip
    assert trail[2][1] == "请补交银行卡照片"
    assert application.status == "approved" and application.valid_until is not None
    assert not application.on_behalf and application.open_key is None


async def test_a_rejection_carries_its_reason(chat: Chat, demo: Database) -> None:
    chen = await chat.person("陈秀英", CHEN)
    liu = await chat.person("刘芳", LIU)
    await chen_applies_herself(chen)
    await liu.send("📝 办事申请")
    await liu.press("审核申请")
    await liu.press("不通过")
    assert "没有待审核的申请了" in texts(await liu.send("户口不在本市"))
    await chat.deliver()
    assert chen.told("没有通过。原因：户口不在本市")
    assert (await the_application(demo)).status == "rejected"


async def test_nobody_sees_or_decides_another_persons_application_whatever_the_payload(
    chat: Chat, demo: Database
) -> None:
    await chen_applies_herself(await chat.person("陈秀英", CHEN))
    wang = await chat.person("王建国", WANG)
    zhu = await chat.person("朱凡", ZHU)
    chen = await person_named(demo, "陈秀英")
    for payload, answer in (
        ("bview:1", "没有找到这份申请"),
        ("bmore:1", "没有找到这份申请"),
        ("bview:99999", "没有找到这份申请"),
        ("bview:-1", "没有找到这份申请"),
        ("breview:1", "没有权限"),
        ("breview:next", "没有权限"),
        (f"bapply:{chen.id}:zlj", "没有权限"),
        ("bapply:1:nonexistent", "没有权限"),
        ("rv:approve", "失效"),
        ("bconfirm", "失效"),
    ):
        assert answer in texts(await wang.press_payload(payload)), payload
    assert "编号1" not in texts(await wang.send("我的申请"))
    # A grid leader sees his grid's application, but not her ID photo, and cannot decide.
    seen = await zhu.press_payload("bview:1")
    assert "申请人：陈秀英" in texts(seen) and "另有 1 张身份证照片" in texts(seen)
    assert not any(s.photo_id for s in seen)
    await chat.deliver()  # WeChat: an answer's pictures would follow through the API
    assert zhu.photos == []
    assert "没有权限" in texts(await zhu.press_payload("breview:1"))
    application = await the_application(demo)
    assert application.status == "submitted"
    async with demo.session() as s:
        assert (await s.execute(select(func.count()).select_from(BenefitEvent))).scalar_one() == 1


async def test_outreach_twice_approaches_once_and_the_grid_leader_applies_on_her_behalf(
    chat: Chat, demo: Database, clock: FakeClock
) -> None:
    zhu = await chat.person("朱凡", ZHU)
    liu = await chat.person("刘芳", LIU)
    first = await outreach(demo, clock)
    second = await outreach(demo, clock)
    assert (first["approached"], first["messaged"], first["home_visits"]) == (1, 0, 1)
    assert second["approached"] == 0 and second["home_visits"] == 0
    async with demo.session() as s:
        assert (
            await s.execute(select(func.count()).select_from(BenefitOutreach))
        ).scalar_one() == 1
        task = (await s.execute(select(Task))).scalar_one()
    zhu_person = await person_named(demo, "朱凡")
    chen_person = await person_named(demo, "陈秀英")
    assert task.kind == TaskKind.HOME_VISIT and task.assignee_id == zhu_person.id
    assert task.subject_person_id == chen_person.id and "陈秀英" in task.title
    assert "行动不便" in task.detail and "未绑定聊天账号" in task.detail

    # The task reaches 朱凡 with an "apply for her" button; he visits and applies (代办).
    await chat.deliver()
    asked = await zhu.press("代为申请")
    assert "关于陈秀英：您的户口在本市吗" in texts(asked)
    await zhu.press("是")
    summary = await zhu.press("否")
    assert "代办：由 朱凡 代 陈秀英 申请" in texts(summary)
    await zhu.press("确认申请")
    await zhu.photo("chen-id-card")
    filed = await zhu.press("提交")
    assert "已为 陈秀英 代办尊老金（高龄津贴）申请（编号 1）" in texts(filed)
    # The visit is closed from the same answer, with the time it took (hours for 朱凡).
    assert "大约用了多长时间" in texts(await zhu.press("完成走访"))
    assert "已完成" in texts(await zhu.press("1 小时"))
    async with demo.session() as s:
        visit = await s.get(Task, task.id)
        assert visit is not None and visit.state == "done" and visit.minutes_claimed == 60

    application = await the_application(demo)
    assert application.on_behalf and application.filer_role == "grid_leader"
    assert application.filed_by_id == zhu_person.id and application.person_id == chen_person.id
    assert application.resident_told_at is None  # she has no chat account yet
    await liu.send("📝 办事申请")
    card = await liu.press("审核申请")
    assert "代办：朱凡（网格长）" in texts(card) and "底册备注：独居、行动不便" in texts(card)
    assert "编号1" in texts(await zhu.send("我的申请"))

    # Once she can be reached (her daughter set up her phone), the next scan tells her.
    chen = await chat.person("陈秀英", CHEN)
    assert (await outreach(demo, clock))["told"] == 1
    await chat.deliver()
    assert chen.told("朱凡 已为您代办尊老金（高龄津贴）申请")
    assert (await outreach(demo, clock))["told"] == 0
    # Her cases screen points to the application.
    cases = await chen.send("📋 我的事项")
    assert any("我的申请（1）" in label for label in labels(cases))
    assert "编号1" in texts(await chen.press("我的申请"))


async def test_a_reachable_resident_gets_a_one_tap_message_and_silence_brings_a_visit(
    chat: Chat, demo: Database, clock: FakeClock
) -> None:
    chen = await chat.person("陈秀英", CHEN)
    async with demo.session() as s:
        person = await person_named(demo, "陈秀英")
        record = await s.get(ResidentRecord, person.id)
        assert record is not None
        record.limited_mobility = False  # walks well: no visit straight away
    counts = await outreach(demo, clock)
    assert (counts["messaged"], counts["home_visits"]) == (1, 0)
    await outreach(demo, clock)
    await chat.deliver()
    pushed = [m for m in chen.messages if "即将满80岁" in m.text]
    assert len(pushed) == 1 and pushed[0].buttons[0][0] == "✔ 一键申请"
    clock.advance(days=8)  # no answer within 7 days
    assert (await outreach(demo, clock))["home_visits"] == 1
    assert (await outreach(demo, clock))["home_visits"] == 0
    answer = await chen.press("一键申请")
    assert "户口在本市吗" in texts(answer)


# The register file in the chat (Telegram only: a WeChat official account receives no files):
# tests/test_register_chat.py.


async def test_documents_are_kept_by_reference_not_by_content(chat: Chat, demo: Database) -> None:
    await chen_applies_herself(await chat.person("陈秀英", CHEN))
    async with demo.session() as s:
        doc = (await s.execute(select(BenefitDocument))).scalar_one()
    (arrived,) = await chat.arrived_as([doc.media_ref])
    assert (doc.kind, arrived, doc.sensitive) == ("id_card", chat.ref("idcard-photo"), True)
