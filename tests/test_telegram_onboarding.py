"""Conversation scripts: the real PTB stack against the fake Bot API, and the same scripts
(`chat` fixture) on WeChat, through signed requests to the real endpoint."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.channels.telegram_channel import register_commands
from models.db import Database
from models.demo import DEMO_RESIDENT_CODE, DEMO_VOLUNTEER_CODE
from models.tables import ChannelAccount, Conversation, Person, ProcessedUpdate, RoleGrant
from tests.chat import Chat
from tests.conftest import FakeClock
from tests.fakes.telegram import FakeBotApi
from tests.telegram_chat import TelegramUser, link, menu_of, person_named, texts


async def test_start_greets_in_chinese_with_the_big_button_menu(chat: Chat) -> None:
    me = chat.user(501)
    answer = await me.send("/start")
    assert "邻里小助手" in texts(answer)
    menu = menu_of(answer)
    for label in (
        "随手拍/上报问题",
        "办事申请",
        "预约服务",
        "投票表决",
        "社区活动",
        "附近驿站",
        "我的事项",
        "登记入住",
    ):
        assert any(label in m for m in menu), label
    assert not any("发通知" in m for m in menu), "residents do not see staff buttons"


async def test_the_command_list_is_registered_in_both_languages(telegram, api: FakeBotApi) -> None:
    await register_commands(await telegram())
    assert {c["command"] for c in api.commands[None]} >= {"start", "report", "cancel", "lang"}
    assert api.commands["en"][0]["description"].startswith("Start")


async def test_menu_button_routes_to_its_feature(chat: Chat) -> None:
    me = chat.user(502)
    # Someone who has not joined yet: the station finder answers anyone (a courier passing by) …
    answer = await me.send("☕ 附近驿站")
    assert "您在哪里" in texts(answer)
    # … while booking asks them to join first.
    answer = await me.send("📅 预约服务")
    assert "请先登记" in texts(answer)


async def test_deep_link_invitation_links_a_new_resident(chat: Chat, demo: Database) -> None:
    me = chat.user(503)
    answer = await me.join_by_link(DEMO_RESIDENT_CODE)
    assert "姓名" in texts(answer)
    answer = await me.send("吴阿姨")
    assert "欢迎您，吴阿姨" in texts(answer)
    person = await person_named(demo, "吴阿姨")
    assert person.verified and person.grid_id is not None
    async with demo.session() as s:
        account = (
            await s.execute(
                select(ChannelAccount).where(
                    ChannelAccount.channel == chat.channel,
                    ChannelAccount.external_id == chat.external_id(503),
                )
            )
        ).scalar_one()
    assert account.person_id == person.id


async def test_typed_volunteer_code_grants_the_role_audited(
    telegram, api: FakeBotApi, demo: Database
) -> None:
    await link(demo, 504, "王建国")
    me = TelegramUser(await telegram(), api, 504)
    answer = await me.send(DEMO_VOLUNTEER_CODE.lower())
    assert "志愿者" in texts(answer)
    assert any("我的任务" in m for m in menu_of(answer))
    wang = await person_named(demo, "王建国")
    async with demo.session() as s:
        grant = (
            await s.execute(
                select(RoleGrant).where(
                    RoleGrant.person_id == wang.id, RoleGrant.role == "volunteer"
                )
            )
        ).scalar_one()
    assert grant.granted_by_id is not None and grant.reason == f"invitation {DEMO_VOLUNTEER_CODE}"


async def test_unknown_code_is_refused_politely(telegram, api: FakeBotApi) -> None:
    me = TelegramUser(await telegram(), api, 505)
    answer = await me.send("/start ZZZZ9999")
    assert "没有找到这个邀请码" in texts(answer)


async def test_self_registration_then_grid_leader_confirms_with_one_tap(
    chat: Chat, demo: Database
) -> None:
    await chat.link(600, "朱凡")
    resident = chat.user(506)
    assert "姓名" in texts(await resident.send("登记入住"))
    assert "手机号" in texts(await resident.send("钱多多"))
    assert "11位" in texts(await resident.send("12345"))
    assert "哪个小区" in texts(await resident.send("138 0013 8000"))
    assert "哪一幢" in texts(await resident.press("虹桥南村"))
    assert "几单元" in texts(await resident.press("3幢"))
    await resident.send("2")
    summary = await resident.send("302")
    assert "虹桥南村3幢2单元302" in texts(summary) and "13800138000" in texts(summary)
    done = await resident.press("确认")
    assert "网格长确认" in texts(done)
    qian = await person_named(demo, "钱多多")
    assert not qian.verified

    leader = chat.user(600, "朱凡")
    queue = await leader.send("✅ 待确认居民")
    assert "钱多多" in texts(queue)
    confirmed = await leader.press("确认 钱多多")
    assert "已确认 钱多多" in texts(confirmed)
    assert (await person_named(demo, "钱多多")).verified
    again = await leader.press_payload(f"verify:{qian.id}")
    assert "已经确认过了" in texts(again)


async def test_language_switch_and_back(telegram, api: FakeBotApi) -> None:
    me = TelegramUser(await telegram(), api, 507)
    answer = await me.send("/lang")
    assert "Language set to English" in texts(answer)
    assert any("Report a problem" in m for m in menu_of(answer))
    answer = await me.send("中文")
    assert "已切换为中文" in texts(answer)
    answer = await me.send("English")
    assert "English" in texts(answer)


async def test_cancel_mid_flow(chat: Chat, demo: Database) -> None:
    me = chat.user(508)
    await me.send("/register")
    await me.send("钱多多")
    answer = await me.send("取消")
    assert "已取消" in texts(answer)
    async with demo.session() as s:
        conv = await s.get(Conversation, (chat.channel, chat.external_id(508)))
        assert conv is not None and conv.flow is None
        assert (
            await s.execute(select(func.count()).select_from(Person).where(Person.name == "钱多多"))
        ).scalar() == 0
    assert "没有要取消" in texts(await me.send("/cancel"))


async def test_restart_mid_flow_continues_where_the_person_was(
    telegram, api: FakeBotApi, demo: Database
) -> None:
    first = await telegram()
    me = TelegramUser(first, api, 509)
    await me.send("/register")
    await me.send("钱多多")
    await first.shutdown()
    # A new process: a new application and a new Linli, over the same database.
    me.app = await telegram()
    answer = await me.send("13800138000")
    assert "哪个小区" in texts(answer)


async def test_flow_times_out(telegram, api: FakeBotApi, clock: FakeClock) -> None:
    me = TelegramUser(await telegram(), api, 510)
    await me.send("/register")
    clock.advance(hours=2)
    answer = await me.send("钱多多")
    assert "已自动取消" in texts(answer)


async def test_unknown_text_gets_an_apology_and_the_menu(telegram, api: FakeBotApi) -> None:
    me = TelegramUser(await telegram(), api, 511)
    answer = await me.send("今天天气不错")
    assert "没听懂" in texts(answer)
    assert menu_of(answer)


async def test_redelivered_update_has_no_second_effect(
    telegram, api: FakeBotApi, demo: Database
) -> None:
    me = TelegramUser(await telegram(), api, 512)
    await me.send("/register")
    first = await me.send("钱多多")
    assert "手机号" in texts(first)
    assert await me.redeliver() == []
    async with demo.session() as s:
        conv = await s.get(Conversation, ("telegram", "512"))
        assert conv is not None and conv.step == "phone"
        keys = (await s.execute(select(func.count()).select_from(ProcessedUpdate))).scalar()
    assert keys == 2


async def test_pressed_buttons_are_removed_and_callback_answered(telegram, api: FakeBotApi) -> None:
    me = TelegramUser(await telegram(), api, 513)
    await me.send("/register")
    await me.send("钱多多")
    await me.send("13800138000")
    estate_question = api.to_chat(513)[-1]
    await me.press("虹桥南村")
    assert estate_question.buttons == []
    assert api.answered_callbacks


async def test_grid_leader_is_asked_unprompted_and_the_resident_told(chat: Chat) -> None:
    await chat.link(610, "朱凡")
    resident = chat.user(611)
    for text in ("/register", "钱多多", "13800138000"):
        await resident.send(text)
    await resident.press("虹桥南村")
    await resident.press("1幢")
    await resident.send("1")
    await resident.send("202")
    await resident.press("确认")
    await chat.deliver()
    leader = chat.user(610, "朱凡")
    assert "新居民登记" in leader.latest() and "钱多多" in leader.latest()
    assert "已确认 钱多多" in texts(await leader.press("确认是本网格居民"))
    await chat.deliver()
    assert "网格长朱凡已确认您的登记" in resident.latest()
