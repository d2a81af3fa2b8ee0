"""The WeChat / WeCom callback endpoint: only the platform gets in, and every kind of message works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from bot.channels.wechat import TEXT_MAX_BYTES, Endpoint, signature, split_text
from bot.config import Settings
from handlers.core import Context, Reply
from models.db import Database
from models.demo import DEMO_RESIDENT_CODE
from models.tables import ChannelAccount, Conversation, Outbox, ProcessedUpdate
from tests.conftest import FakeClock
from tests.wechat_chat import (
    AES_KEY,
    OA_TOKEN,
    WECOM_TOKEN,
    WeChatHarness,
    WeChatUser,
    link_account,
    reply_text,
    wechat_settings,
)


@pytest.fixture(params=["plain", "safe"])
async def harness(
    request: pytest.FixtureRequest, settings: Settings, demo: Database, clock: FakeClock
) -> AsyncIterator[WeChatHarness]:
    h = WeChatHarness(wechat_settings(settings, safe=request.param == "safe"), demo, clock)
    yield h
    await h.close()


@pytest.fixture
async def safe(
    settings: Settings, demo: Database, clock: FakeClock
) -> AsyncIterator[WeChatHarness]:
    h = WeChatHarness(wechat_settings(settings, safe=True), demo, clock)
    yield h
    await h.close()


async def rows(db: Database) -> dict[str, int]:
    """How many rows each table has (to show that a refused request changed nothing)."""
    out = {}
    async with db.session() as s:
        for table in SQLModel.metadata.sorted_tables:
            out[table.name] = (
                await s.execute(select(func.count()).select_from(table))
            ).scalar_one()
    return out


# ---------------------------------------------------------------- the platform checks the URL


async def test_official_account_url_check_echoes_only_a_signed_echostr(safe: WeChatHarness) -> None:
    ts = str(int(safe.clock().timestamp()))
    good = {"timestamp": ts, "nonce": "n1", "echostr": "hello-123"}
    good["signature"] = signature(OA_TOKEN, ts, "n1")
    answer = await safe.client.get("/wechat", params=good)
    assert answer.status_code == 200 and answer.text == "hello-123"
    forged = {**good, "nonce": "n2", "signature": signature("guess", ts, "n2")}
    assert (await safe.client.get("/wechat", params=forged)).status_code == 403


async def test_wecom_url_check_decrypts_the_echostr(safe: WeChatHarness) -> None:
    user = safe.user("zhufan", "wecom")
    encrypted = user.encrypt("1616140317555161061")
    ts = str(int(safe.clock().timestamp()))
    query = {
        "msg_signature": signature(WECOM_TOKEN, ts, "n3", encrypted),
        "timestamp": ts,
        "nonce": "n3",
        "echostr": encrypted,
    }
    answer = await safe.client.get("/wecom", params=query)
    assert answer.status_code == 200 and answer.text == "1616140317555161061"
    wrong = {**query, "nonce": "n4"}  # signature no longer matches
    assert (await safe.client.get("/wecom", params=wrong)).status_code == 403


# ---------------------------------------------------------------- refused requests change nothing


async def test_wrong_signature_old_timestamp_and_a_nonce_reused_by_another_message_are_refused(
    harness: WeChatHarness, demo: Database, clock: FakeClock
) -> None:
    me = harness.user("o-alice")
    before = await rows(demo)
    xml = me.envelope(me.fields(MsgType="text", Content="/register", MsgId="9001"))

    query, body = me.signed(xml)
    forged = {
        k: (v[:-1] + ("0" if v[-1] != "0" else "1") if "signature" in k else v)
        for k, v in query.items()
    }
    assert (await me.post(forged, body)).status_code == 403

    stale_ts = str(int(clock().timestamp()) - 301)
    query, body = me.signed(xml, timestamp=stale_ts)
    assert (await me.post(query, body)).status_code == 403
    future_ts = str(int(clock().timestamp()) + 301)
    query, body = me.signed(xml, timestamp=future_ts)
    assert (await me.post(query, body)).status_code == 403
    assert await rows(demo) == before

    query, body = me.signed(xml, nonce="once-only")
    first = await me.post(query, body)
    assert first.status_code == 200 and "姓名" in me.open_reply(first)
    after_first = await rows(demo)
    # The platform's byte-identical retry is answered as the first time, with no second effect …
    replay = await me.post(query, body)
    assert replay.status_code == 200 and me.open_reply(replay) == me.open_reply(first)
    assert await rows(demo) == after_first
    # … while another message carrying the same timestamp and nonce is refused.
    other = me.envelope(me.fields(MsgType="text", Content="/help", MsgId="9002"))
    query2, body2 = me.signed(other, timestamp=query["timestamp"], nonce="once-only")
    assert (await me.post(query2, body2)).status_code == 403
    assert await rows(demo) == after_first


async def test_plain_message_to_a_safe_mode_endpoint_is_refused(safe: WeChatHarness) -> None:
    me = safe.user("o-bob")
    ts = str(int(safe.clock().timestamp()))
    query = {"timestamp": ts, "nonce": "n5", "signature": signature(OA_TOKEN, ts, "n5")}
    xml = me.envelope(me.fields(MsgType="text", Content="hi", MsgId="1"))
    assert (await me.post(query, xml)).status_code == 403


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<xml><ToUserName>gh</ToUserName><FromUserName>o-eve</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol5;</Content><MsgId>7</MsgId></xml>"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o-eve</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>8</MsgId></xml>"""


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("<xml><ToUserName>gh</ToUserName><FromUser", 400),
        ("not xml at all", 400),
        ("<html><body>hi</body></html>", 400),
        (BOMB, 400),
        (EXTERNAL, 400),
        ("<xml>" + "<Content>" + "x" * 1_000_000 + "</Content></xml>", 413),
    ],
    ids=["truncated", "not-xml", "not-wechat", "entity-bomb", "external-entity", "1MB"],
)
async def test_bad_bodies_get_a_4xx_and_nothing_else(
    harness: WeChatHarness, demo: Database, body: str, status: int
) -> None:
    me = harness.user("o-eve")
    before = await rows(demo)
    query, signed_body = me.signed(body)
    if harness.hook().endpoint.safe and status != 413:
        # In safe mode the bad document is what the (correctly signed) envelope decrypts to.
        answer = await me.post(query, signed_body)
        assert answer.status_code == 400
        # ... and the envelope itself may be the bomb as well.
        query, _ = me.signed("<xml/>")
    answer = await me.post(query, body)
    assert answer.status_code == status
    assert await rows(demo) == before


async def test_a_decrypted_message_for_another_app_is_refused(
    safe: WeChatHarness, demo: Database
) -> None:
    me = safe.user("o-frank")
    other = WeChatUser(
        me.client,
        Endpoint("wechat", OA_TOKEN, AES_KEY, "wx-someone-else"),
        me.path,
        me.openid,
        me.clock,
        me.server,
    )
    before = await rows(demo)
    query, body = other.signed(
        other.envelope(other.fields(MsgType="text", Content="hi", MsgId="3"))
    )
    assert (await me.post(query, body)).status_code == 400
    assert await rows(demo) == before


# ---------------------------------------------------------------- every kind of message


async def test_subscribe_greets_and_a_menu_click_routes_to_its_feature(
    harness: WeChatHarness,
) -> None:
    me = harness.user("o-gina")
    hello = reply_text(await me.event("subscribe"))
    assert "邻里小助手" in hello and "1. " in hello and "回复数字" in hello
    stations = reply_text(await me.event("CLICK", "intent:stations"))  # open to anyone
    assert "您在哪里" in stations
    assert await me.event("VIEW", "https://example.org") == []


async def test_scanning_an_invitation_code_onboards_like_a_deep_link(
    harness: WeChatHarness, demo: Database
) -> None:
    me = harness.user("o-hua")
    assert "姓名" in reply_text(await me.event("SCAN", DEMO_RESIDENT_CODE))
    assert "欢迎您，吴阿姨" in reply_text(await me.send("吴阿姨"))
    async with demo.session() as s:
        account = (
            await s.execute(select(ChannelAccount).where(ChannelAccount.external_id == "o-hua"))
        ).scalar_one()
    assert account.channel == "wechat" and account.person_id is not None


async def test_numbers_map_back_to_the_offered_choices(
    harness: WeChatHarness, demo: Database
) -> None:
    me = harness.user("o-ivy")
    await me.send("登记入住")
    await me.send("钱多多")
    estates = reply_text(await me.send("13800138000"))
    assert "2. 虹桥南村" in estates
    assert "哪一幢" in reply_text(await me.send("2"))
    async with demo.session() as s:
        conv = await s.get(Conversation, ("wechat", "o-ivy"))
    assert conv is not None and conv.data.get("estate") == "虹桥南村"


async def test_voice_uses_the_recognition_or_asks_for_text(harness: WeChatHarness) -> None:
    me = harness.user("o-jack")
    assert "没能听清" in reply_text(await me.voice(None))
    answer = reply_text(await me.voice("登记入住"))
    assert "姓名" in answer


async def test_photo_and_location_reach_the_handlers(harness: WeChatHarness) -> None:
    me = harness.user("o-kate")
    assert reply_text(await me.photo("MEDIA-1")), "a bare photo starts a report"
    assert reply_text(await me.location(28.14, 120.97, "虹桥南村")), "a location finds stations"
    unsupported = await me.deliver(me.fields(MsgType="video", MediaId="v", MsgId="55"))
    assert "看不懂" in reply_text(unsupported)


async def test_an_event_retried_by_the_platform_has_no_second_effect(
    harness: WeChatHarness, demo: Database
) -> None:
    me = harness.user("o-lily")
    greeting = reply_text(await me.event("subscribe"))
    assert "邻里小助手" in greeting
    # The retry gets the same passive reply (the first may have been lost), and no second run.
    assert reply_text(await me.redeliver()) == greeting
    async with demo.session() as s:
        keys = (
            await s.execute(
                select(func.count())
                .select_from(ProcessedUpdate)
                .where(ProcessedUpdate.channel == "wechat")
            )
        ).scalar_one()
    assert keys == 1


async def test_unsubscribe_stops_messages_until_the_person_writes_again(
    harness: WeChatHarness, demo: Database
) -> None:
    me = harness.user("o-mia")
    await me.send("你好")
    assert await me.event("unsubscribe") == []
    async with demo.session() as s:
        account = (
            await s.execute(select(ChannelAccount).where(ChannelAccount.external_id == "o-mia"))
        ).scalar_one()
    assert account.blocked_at is not None
    await me.event("subscribe")
    async with demo.session() as s:
        account = (
            await s.execute(select(ChannelAccount).where(ChannelAccount.external_id == "o-mia"))
        ).scalar_one()
    assert account.blocked_at is None


async def test_wecom_member_chats_in_safe_mode(safe: WeChatHarness, demo: Database) -> None:
    await link_account(demo, "wecom", "zhufan", "朱凡")
    leader = safe.user("zhufan", "wecom")
    answer = reply_text(await leader.send("/start"))
    assert "朱凡" in answer and "待确认居民" in answer, "staff see their own menu on WeCom"


# ---------------------------------------------------------------- passive-reply size


def test_split_text_keeps_pieces_within_the_byte_limit() -> None:
    text = "\n\n".join(["第" + str(i) + "段：" + "邻里" * 300 for i in range(5)])
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(len(p.encode()) <= TEXT_MAX_BYTES for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    one_line = "长" * 2000
    assert all(len(p.encode()) <= TEXT_MAX_BYTES for p in split_text(one_line))
    assert "".join(split_text(one_line)) == one_line


async def test_a_long_answer_is_split_the_rest_follows_as_messages(
    harness: WeChatHarness, demo: Database
) -> None:
    async def long_answer(ctx: Context, _arg: str) -> Any:
        return [Reply("\n\n".join(f"{i}. " + "通知内容" * 60 for i in range(6)))]

    harness.linli.router.intents["long"] = long_answer
    harness.linli.router.commands["long"] = "long"
    me = harness.user("o-nina")
    first = reply_text(await me.send("/long"))
    assert 0 < len(first.encode()) <= TEXT_MAX_BYTES
    await harness.deliver()
    rest = [s.text for s in me.pushed()]
    assert rest and all(len(t.encode()) <= TEXT_MAX_BYTES for t in rest)
    assert "5. " in rest[-1]
    async with demo.session() as s:
        kinds = (await s.execute(select(Outbox.kind, Outbox.status))).all()
    assert {k for k, _ in kinds} == {"reply"} and {st for _, st in kinds} == {"sent"}


def test_linli_serve_exposes_both_endpoints_when_configured(settings: Settings) -> None:
    from starlette.routing import Route

    from bot.web import serving_app

    app = serving_app(wechat_settings(settings, safe=True))
    routes = {(r.path, m) for r in app.routes if isinstance(r, Route) for m in r.methods or ()}
    assert {
        ("/wechat", "GET"),
        ("/wechat", "POST"),
        ("/wecom", "GET"),
        ("/wecom", "POST"),
    } <= routes
    bare = serving_app(settings)
    assert not any(isinstance(r, Route) and r.path == "/wechat" for r in bare.routes)
