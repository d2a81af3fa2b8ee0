"""Bad input gets a clear, polite answer and changes nothing; payloads are never trusted."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from models.db import Database
from models.tables import Invitation, Person, RoleGrant
from tests.fakes.telegram import FakeBotApi
from tests.telegram_chat import TelegramUser, link, person_named, texts

rng = random.Random(7)
LONG = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(5000))
ODD_INPUTS = ["", "   ", LONG, "😀😀😀🎉", "\x00\x07abc\x1b[31m", "\u202e\u200b", "%s{name}{x}"]


async def snapshot(db: Database) -> tuple[object, ...]:
    """The rows a forged action could change."""
    async with db.session() as s:
        people = (
            await s.execute(select(Person.id, Person.name, Person.verified, Person.grid_id))
        ).all()
        grants = (
            await s.execute(select(RoleGrant.person_id, RoleGrant.role, RoleGrant.revoked_at))
        ).all()
        invites = (await s.execute(select(Invitation.code, Invitation.uses))).all()
    return tuple(sorted(people)), tuple(sorted(grants, key=str)), tuple(sorted(invites))


@pytest.mark.parametrize(
    "text", ODD_INPUTS, ids=["empty", "spaces", "5000", "emoji", "control", "bidi", "braces"]
)
async def test_odd_text_gets_the_menu_and_changes_nothing(
    telegram, api: FakeBotApi, demo: Database, text: str
) -> None:
    me = TelegramUser(await telegram(), api, 800)
    before = await snapshot(demo)
    answer = await me.send(text)
    assert answer, "never silence"
    assert "抱歉" in texts(answer) or "没听懂" in texts(answer)
    assert answer[-1].keyboard, "the menu comes with it"
    assert await snapshot(demo) == before


@pytest.mark.parametrize(
    "text", ODD_INPUTS, ids=["empty", "spaces", "5000", "emoji", "control", "bidi", "braces"]
)
async def test_odd_text_as_a_name_is_refused_and_asked_again(
    telegram, api: FakeBotApi, demo: Database, text: str
) -> None:
    me = TelegramUser(await telegram(), api, 801)
    await me.send("/register")
    before = await snapshot(demo)
    answer = await me.send(text)
    if text == "%s{name}{x}":
        assert "手机号" in texts(answer)  # odd but a fine name; braces do not break the texts
    else:
        assert "姓名好像不对" in texts(answer)
    assert await snapshot(demo) == before


async def test_resident_cannot_confirm_anyone_by_forging_the_button(
    telegram, api: FakeBotApi, demo: Database
) -> None:
    app = await telegram()
    newcomer = TelegramUser(app, api, 802)
    for step in ("/register", "钱多多", "13800138000"):
        await newcomer.send(step)
    await newcomer.press("虹桥南村")
    await newcomer.press("2幢")
    await newcomer.send("1")
    await newcomer.send("101")
    await newcomer.press("确认")
    qian = await person_named(demo, "钱多多")

    await link(demo, 803, "王建国")  # a resident (and representative), not a grid leader
    await link(demo, 804, "周杰")  # grid leader, but of the other grid
    before = await snapshot(demo)
    for user_id in (803, 804):
        forger = TelegramUser(app, api, user_id)
        answer = await forger.press_payload(f"verify:{qian.id}")
        assert "没有权限" in texts(answer)
    assert await snapshot(demo) == before
    assert not (await person_named(demo, "钱多多")).verified


@pytest.mark.parametrize(
    "payload",
    [
        "intent:invite",
        "intent:broadcast",
        "intent:pending",
        "verify:1",
        "verify:-1",
        "verify:abc",
        "verify:99999999999999",
        "role:manager",
        "grid:1",
        "reg:yes",
        "x" * 64,
        "intent:nonexistent",
    ],
)
async def test_forged_payloads_from_a_resident_change_nothing(
    telegram, api: FakeBotApi, demo: Database, payload: str
) -> None:
    await link(demo, 805, "赵敏")
    me = TelegramUser(await telegram(), api, 805)
    before = await snapshot(demo)
    answer = await me.press_payload(payload)
    assert answer and any(w in texts(answer) for w in ("没有权限", "失效")), texts(answer)
    assert await snapshot(demo) == before


async def test_grid_leader_cannot_mint_a_manager_or_grid_leader_code(
    telegram, api: FakeBotApi, demo: Database
) -> None:
    await link(demo, 806, "朱凡")
    me = TelegramUser(await telegram(), api, 806)
    answer = await me.send("🔑 邀请码")
    labels = [label for s in answer for label, _ in s.buttons]
    assert "网格长" not in labels and "居民" in labels
    before = await snapshot(demo)
    again = await me.press_payload("role:grid_leader")
    assert "失效" in texts(again), "a role that was not offered is refused"
    assert "哪个网格" in texts(await me.send("居民")), "the open question still takes an answer"
    assert await snapshot(demo) == before


async def test_manager_creates_an_invitation_with_a_printable_qr_code(
    telegram, api: FakeBotApi, demo: Database
) -> None:
    await link(demo, 807, "刘芳")
    me = TelegramUser(await telegram(), api, 807)
    await me.send("/invite")
    await me.press("志愿者")
    answer = await me.press("乐美网格")
    poster = next(s for s in answer if s.photo)
    assert "扫码加入 乐美网格" in poster.text
    async with demo.session() as s:
        code = (
            (
                await s.execute(
                    select(Invitation)
                    .where(Invitation.role == "volunteer", Invitation.created_by_id.is_not(None))
                    .order_by(Invitation.id.desc())
                )
            )
            .scalars()
            .first()
        )
    assert code is not None
    assert f"https://t.me/linli_test_bot?start={code.code}" in texts(answer)
    # The code works: someone new joins as a volunteer of that grid.
    joiner = TelegramUser(await telegram(), api, 808)
    await joiner.send(f"/start {code.code}")
    welcome = await joiner.send("钱多多")
    assert "志愿者" in texts(welcome)


async def test_as_exists_only_in_the_console(telegram, api: FakeBotApi, demo: Database) -> None:
    await link(demo, 809, "赵敏")
    me = TelegramUser(await telegram(), api, 809)
    before = await snapshot(demo)
    answer = await me.send("/as 刘芳")
    assert "没有这个命令" in texts(answer)
    assert not any("发通知" in label for label in answer[-1].keyboard), (
        "still 赵敏, no manager buttons"
    )
    assert "没有权限" in texts(await me.send("/notice"))
    assert await snapshot(demo) == before
