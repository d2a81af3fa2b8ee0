"""扫码签到, on Telegram and WeChat: the organiser gets the door poster, the QR code on it is read
back from the picture (zxing-cpp), and scanning it (/start ci_<token>: Telegram's deep link, a
WeChat parametric-QR scan) checks in who signed up, lets a volunteer without a place sign up
and check in on the spot, and refuses, changing nothing, whoever may not."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select
from sqlmodel import col
from typer.testing import CliRunner

from models.channel_tokens import ChannelToken
from models.db import Database, utcnow
from models.event_demo import DEMO_CODE, seed_demo_events
from models.events import Event
from models.signups import Signup, check_invariants
from models.tables import Person
from tests.chat import Chat
from tests.conftest import FakeClock
from tests.fakes.wechat_server import APP_ID, APP_SECRET, FakeWeChatServer, serving


async def _signup(chat: Chat, event_id: int, name: str) -> Signup | None:
    async with chat.db.session() as s:
        event = await s.get(Event, event_id)
        assert event is not None
        return (
            (
                await s.execute(
                    select(Signup)
                    .join(Person, col(Person.id) == Signup.person_id)
                    .where(col(Signup.slot_id) == event.slot_id, col(Person.name) == name)
                    .order_by(col(Signup.id).desc())
                )
            )
            .scalars()
            .first()
        )


async def _signups(chat: Chat) -> int:
    async with chat.db.session() as s:
        return (await s.execute(select(func.count()).select_from(Signup))).scalar_one()


async def _poster_bytes(chat: Chat, who: object, event_id: int) -> bytes:
    """The poster picture the organiser received, as the platform holds it."""
    if chat.telegram:
        assert chat.api is not None
        return next(
            data for method, _n, data in reversed(chat.api.uploads) if method == "sendPhoto"
        )
    await chat.deliver()  # WeChat: the picture follows the passive reply through the API
    assert chat.harness is not None
    media = [m.photo_id for m in who.messages if m.photo_id]  # type: ignore[attr-defined]
    return chat.harness.server.media[media[-1]]


def _start_parameter(poster: bytes) -> str:
    """Read the QR code off the poster and take the deep link's start parameter."""
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(poster)))
    assert len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode
    link = urlparse(found[0].text)
    assert (link.scheme, link.netloc, link.path) == ("https", "t.me", "/linli_test_bot")
    (parameter,) = parse_qs(link.query)["start"]
    return parameter


async def test_the_door_poster_checks_people_in(chat: Chat, clock: FakeClock) -> None:
    async with chat.db.session() as s:
        workshop_row, _meeting = await seed_demo_events(s, clock())
        workshop = workshop_row.id or 0
    liu = await chat.person("刘芳")
    await liu.press_payload(f"ev:list:{workshop}")
    await liu.press("签到海报")
    assert liu.told("签到海报") and liu.told(f"签到 {DEMO_CODE}")
    if chat.telegram:  # an A4 PDF to print; a WeChat official account sends no files
        assert chat.api is not None
        assert chat.api.uploads[-1][1] == f"event-{workshop}-poster.pdf"
        assert chat.api.uploads[-1][2].startswith(b"%PDF")
    poster = await _poster_bytes(chat, liu, workshop)
    assert Image.open(io.BytesIO(poster)).size == (1240, 1754)  # A4 at 150 dpi
    parameter = _start_parameter(poster)
    assert parameter.startswith("ci_")

    # 李红 signed up (with her child): scanning checks her in; scanning twice changes nothing.
    li = await chat.person("李红")
    await li.join_by_link(parameter)
    assert "签到成功" in li.last_text and "社区党群服务中心二楼活动室" in li.last_text
    came = await _signup(chat, workshop, "李红")
    assert came is not None and came.status == "checked_in" and came.party == 2
    await li.join_by_link(parameter)
    assert "已经签到过了" in li.last_text

    # 张伟, a volunteer who did not sign up: the last place, taken and checked in with one tap.
    zhang = await chat.person("张伟")
    await zhang.join_by_link(parameter)
    assert "还没有报名" in zhang.last_text
    assert await _signup(chat, workshop, "张伟") is None  # nothing until he taps
    await zhang.press("报名并签到")
    assert "已报名并签到" in zhang.last_text
    walk_in = await _signup(chat, workshop, "张伟")
    assert walk_in is not None and walk_in.status == "checked_in"

    # Refusals change nothing: full, not in the audience, a forged token, a resident's poster.
    before = await _signups(chat)
    zhu = await chat.person("朱凡")
    await zhu.join_by_link(parameter)
    assert "名额已满" in zhu.last_text
    wang = await chat.person("王建国")
    await wang.join_by_link(parameter)
    assert "只对志愿者开放" in wang.last_text
    await wang.join_by_link("ci_forgedtoken1")
    assert "签到码已失效" in wang.last_text
    await wang.press_payload(f"ci:join:{parameter.removeprefix('ci_')}")
    assert "只对志愿者开放" in wang.last_text
    await wang.press_payload(f"ci:poster:{workshop}")
    assert "没有权限" in wang.last_text
    assert await _signups(chat) == before

    # After the door closes (an hour after the end) the poster says when it was.
    clock.advance(hours=4)
    await zhang.join_by_link(parameter)
    assert "现在还不能签到" in zhang.last_text
    async with chat.db.session() as s:
        assert all((await check_invariants(s)).values())


async def test_linli_wechat_poster_carries_the_official_accounts_qr_code(
    demo: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`linli wechat poster N`: the same door poster with a parametric QR code of the official
    account whose scene is `ci_<token>`; scanning it sends the SCAN event the chat test plays."""
    from bot import cli

    async with demo.session() as s:
        workshop, _meeting = await seed_demo_events(s, utcnow())
        workshop_id = workshop.id or 0
    server = FakeWeChatServer()
    out = tmp_path / "door.png"
    async with serving(server) as base:
        monkeypatch.setenv("WECHAT_API_BASE_URL", base)
        monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
        monkeypatch.setenv("WECHAT_APP_SECRET", APP_SECRET)
        monkeypatch.setenv("DATABASE_URL", database_url)
        runner = CliRunner()
        made = await asyncio.to_thread(
            runner.invoke, cli.app, ["wechat", "poster", str(workshop_id), "--out", str(out)]
        )
        assert made.exit_code == 0, made.output
        unknown = await asyncio.to_thread(runner.invoke, cli.app, ["wechat", "poster", "999"])
        assert unknown.exit_code != 0
    async with demo.session() as s:
        event = await s.get(Event, workshop_id)
        assert event is not None and event.checkin_token
        token = event.checkin_token
        for row in (await s.execute(select(ChannelToken))).scalars():
            await s.delete(row)  # the command's access token: leave the database as found
    (qr,) = server.qrcodes
    assert (qr["scene"], qr["action"]) == (f"ci_{token}", "QR_STR_SCENE")
    # A temporary code, living until the door closes (the end of the workshop plus an hour).
    assert 3 * 3600 <= qr["expire_seconds"] <= 3 * 3600 + 15 * 60
    found = zxingcpp.read_barcodes(Image.open(out))
    assert [f.text for f in found] == ["http://weixin.qq.com/q/gQ0001"]
