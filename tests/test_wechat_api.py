"""The platform APIs: one shared access token, customer-service vs template messages, errors, menu."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.channels.wechat import WeChatSender, WeComSender, custom_menu, install_menu
from bot.channels.wechat.api import AppCredentials, WeChatApi, WeChatApiError
from bot.config import Settings
from bot.delivery import ChannelLimits, DeliveryWorker, SendError
from handlers.core import Reply
from models.channel_tokens import ChannelToken
from models.db import Database
from models.outbox import enqueue
from models.tables import ChannelAccount, Conversation, Outbox
from tests.conftest import FakeClock
from tests.fakes.wechat_server import (
    AGENT_ID,
    APP_ID,
    APP_SECRET,
    CORP_ID,
    CORP_SECRET,
    FakeWeChatServer,
    serving,
)
from tests.telegram_chat import person_named
from tests.wechat_chat import WeChatHarness, link_account, wechat_settings

FAST = ChannelLimits(1000.0, 0.0)


def oa(
    db: Database, server: FakeWeChatServer, clock: FakeClock, base: str = "http://wechat.fake"
) -> WeChatApi:
    transport = None if base.startswith("http://127.") else httpx.ASGITransport(app=server.app)
    return WeChatApi(
        db,
        AppCredentials.official_account(base, APP_ID, APP_SECRET),
        clock=clock,
        transport=transport,
    )


@pytest.fixture
def server() -> FakeWeChatServer:
    return FakeWeChatServer()


@pytest.fixture
async def live(server: FakeWeChatServer) -> AsyncIterator[str]:
    """The fake server on a real local socket."""
    async with serving(server) as base:
        yield base


async def test_twenty_concurrent_sends_on_an_expired_token_cause_one_fetch(
    db: Database, server: FakeWeChatServer, clock: FakeClock, live: str
) -> None:
    api = oa(db, server, clock, live)
    sender = WeChatSender(api, db, FAST, clock=clock)
    try:
        await sender.send("o-first", Reply("早上好"), None)
        assert server.token_requests == 1
        server.expire_tokens()
        await asyncio.gather(*(sender.send(f"o-{i}", Reply(f"通知 {i}"), None) for i in range(20)))
    finally:
        await api.aclose()
    assert server.token_requests == 2, "one fetch at start, exactly one refresh after 42001"
    assert len(server.delivered) == 21
    assert sum(1 for path, code in server.calls if code == 42001) == 20


async def test_two_workers_share_the_token_through_the_database(
    db: Database, server: FakeWeChatServer, clock: FakeClock
) -> None:
    first, second = oa(db, server, clock), oa(db, server, clock)
    other_db = Database(db.url)  # a second process's own engine
    third = oa(other_db, server, clock)
    try:
        tokens = {
            await first.access_token(),
            await second.access_token(),
            await third.access_token(),
        }
        assert len(tokens) == 1 and server.token_requests == 1
        stale = tokens.pop()
        server.expire_tokens()
        renewed = await asyncio.gather(
            first.access_token(stale=stale),
            second.access_token(stale=stale),
            third.access_token(stale=stale),
        )
        assert len(set(renewed)) == 1 and stale not in renewed
        assert server.token_requests == 2
        async with db.session() as s:
            row = await s.get(ChannelToken, "wechat")
        assert row is not None and row.fetches == 2 and row.expires_at is not None
        assert (row.expires_at - clock()).total_seconds() == pytest.approx(7200 - 300)
    finally:
        for api in (first, second, third):
            await api.aclose()
        await other_db.dispose()


async def test_the_token_is_refetched_when_it_runs_out(
    db: Database, server: FakeWeChatServer, clock: FakeClock
) -> None:
    api = oa(db, server, clock)
    try:
        token = await api.access_token()
        clock.advance(seconds=7200 - 299)
        assert await api.access_token() != token
        assert server.token_requests == 2
    finally:
        await api.aclose()


async def test_wrong_secret_is_an_error_not_a_loop(
    db: Database, server: FakeWeChatServer, clock: FakeClock
) -> None:
    api = WeChatApi(
        db,
        AppCredentials.official_account("http://wechat.fake", APP_ID, "wrong"),
        clock=clock,
        transport=httpx.ASGITransport(app=server.app),
    )
    try:
        with pytest.raises(WeChatApiError) as err:
            await api.call("/cgi-bin/message/custom/send", json={"touser": "x"})
        assert err.value.errcode == 40125
    finally:
        await api.aclose()


async def test_errors_become_the_delivery_workers_kinds(
    db: Database, server: FakeWeChatServer, clock: FakeClock
) -> None:
    api = oa(db, server, clock)
    sender = WeChatSender(api, db, FAST, clock=clock)
    try:
        server.unsubscribed.add("o-gone")
        with pytest.raises(SendError) as gone:
            await sender.send("o-gone", Reply("hi"), None)
        assert gone.value.kind == "blocked"
        server.quota = 0
        with pytest.raises(SendError) as quota:
            await sender.send("o-any", Reply("hi"), None)
        assert quota.value.kind == "throttled" and quota.value.retry_after == 3600
        server.quota = None
        server.outside_window.add("o-away")
        with pytest.raises(SendError) as away:
            await sender.send("o-away", Reply("hi"), None)
        assert away.value.kind == "dead" and "48-hour" in away.value.detail
    finally:
        await api.aclose()


async def test_outside_the_48_hour_window_a_template_carries_a_short_text(
    demo: Database, server: FakeWeChatServer, clock: FakeClock
) -> None:
    api = oa(demo, server, clock)
    sender = WeChatSender(
        api, demo, FAST, template_id="TPL-1", template_field="thing1", clock=clock
    )
    try:
        server.outside_window.add("o-away")
        await sender.send(
            "o-away", Reply("明天上午九点在虹桥南村3幢前集中清理杂物，请大家准时参加"), None
        )
    finally:
        await api.aclose()
    sent = server.to("o-away")
    assert [d.api for d in sent] == ["template"]
    value = sent[0].body["data"]["thing1"]["value"]
    assert len(value) == 20 and value.endswith("…") and sent[0].body["template_id"] == "TPL-1"


async def test_unreachable_people_are_recorded_with_the_reason(
    demo: Database, server: FakeWeChatServer, clock: FakeClock
) -> None:
    """No template configured and the window closed: the row is dead, saying why."""
    await link_account(demo, "wechat", "o-chen", "陈秀英")
    chen = await person_named(demo, "陈秀英")
    async with demo.session() as s:
        assert chen.id is not None
        await enqueue(
            s, person_id=chen.id, kind="notice", dedupe_key="n1", now=clock(), text="停水通知"
        )
    server.outside_window.add("o-chen")
    api = oa(demo, server, clock)
    try:
        await DeliveryWorker(
            demo, [WeChatSender(api, demo, FAST, clock=clock)], clock=clock
        ).drain()
    finally:
        await api.aclose()
    async with demo.session() as s:
        row = (await s.execute(select(Outbox))).scalar_one()
    assert row.status == "dead" and row.last_error is not None and "48-hour" in row.last_error


async def test_pushed_choices_are_numbered_and_the_number_works(
    settings: Settings, demo: Database, clock: FakeClock
) -> None:
    harness = WeChatHarness(wechat_settings(settings), demo, clock)
    try:
        await link_account(demo, "wechat", "o-zhu", "朱凡")
        zhu = await person_named(demo, "朱凡")
        async with demo.session() as s:
            assert zhu.id is not None
            await enqueue(
                s,
                person_id=zhu.id,
                kind="push",
                dedupe_key="p1",
                now=clock(),
                text="请看一下",
                choices=[["menu.help", "intent:help"]],
            )
        await harness.deliver()
        me = harness.user("o-zhu")
        assert "1. ❓ 帮助" in me.latest()
        async with demo.session() as s:
            conv = await s.get(Conversation, ("wechat", "o-zhu"))
        assert conv is not None and conv.choices == [["❓ 帮助", "intent:help"]]
        assert "1. " in (await me.send("1"))[0].text
    finally:
        await harness.close()


async def test_wecom_app_messages_and_unknown_members(
    demo: Database, server: FakeWeChatServer, clock: FakeClock
) -> None:
    api = WeChatApi(
        demo,
        AppCredentials.wecom("http://wecom.fake", CORP_ID, CORP_SECRET),
        clock=clock,
        transport=httpx.ASGITransport(app=server.app),
    )
    sender = WeComSender(api, demo, FAST, agent_id=AGENT_ID, clock=clock)
    try:
        await sender.send("zhufan", Reply("新居民登记：钱多多"), None)
        server.invalid_members.add("left-the-company")
        with pytest.raises(SendError) as gone:
            await sender.send("left-the-company", Reply("hi"), None)
    finally:
        await api.aclose()
    assert gone.value.kind == "blocked"
    assert [(d.api, d.touser, d.text) for d in server.delivered] == [
        ("wecom", "zhufan", "新居民登记：钱多多")
    ]


def test_the_custom_menu_fits_wechats_limits() -> None:
    for channel in ("wechat", "wecom"):
        menu = custom_menu(channel)["button"]
        assert 1 <= len(menu) <= 3
        for top in menu:
            assert len(top["name"].encode()) <= 16 and 1 <= len(top["sub_button"]) <= 5
            for item in top["sub_button"]:
                assert len(item["name"].encode()) <= 60 and item["key"].startswith("intent:")
    keys = {b["key"] for top in custom_menu("wechat")["button"] for b in top["sub_button"]}
    assert {"intent:report", "intent:register", "intent:help"} <= keys


async def test_install_menu_against_the_fake_server(
    db: Database, server: FakeWeChatServer, clock: FakeClock
) -> None:
    api = oa(db, server, clock)
    try:
        await install_menu(api, "wechat")
    finally:
        await api.aclose()
    assert server.menus and server.menus[0]["button"][0]["name"] == "办事服务"


def test_linli_wechat_menu_command(
    database_url: str, monkeypatch: pytest.MonkeyPatch, server: FakeWeChatServer
) -> None:
    """`linli wechat menu` over a real socket to the fake server."""
    from bot import cli

    async def run() -> None:
        async with serving(server) as base:
            monkeypatch.setenv("WECHAT_API_BASE_URL", base)
            monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
            monkeypatch.setenv("WECHAT_APP_SECRET", APP_SECRET)
            monkeypatch.setenv("DATABASE_URL", database_url)
            result = await asyncio.to_thread(CliRunner().invoke, cli.app, ["wechat", "menu"])
            assert result.exit_code == 0, result.output
            assert "菜单" in result.output or "menu" in result.output

    asyncio.run(run())
    assert len(server.menus) == 1
    # The command's token row is left for others: clean it so the database stays empty.
    from models.db import Database as Db

    async def clean() -> None:
        db = Db(database_url)
        async with db.session() as s:
            for row in (await s.execute(select(ChannelToken))).scalars():
                await s.delete(row)
            for acc in (await s.execute(select(ChannelAccount))).scalars():
                await s.delete(acc)
        await db.dispose()

    asyncio.run(clean())


async def test_linli_wechat_qr_makes_a_scan_to_join_code_for_an_invitation(
    demo: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    server: FakeWeChatServer,
    tmp_path: Path,
) -> None:
    """`linli wechat qr HQNC2345`: a parametric QR whose scene is the code (a SCAN then joins)."""
    from bot import cli

    out = tmp_path / "poster.png"
    async with serving(server) as base:
        monkeypatch.setenv("WECHAT_API_BASE_URL", base)
        monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
        monkeypatch.setenv("WECHAT_APP_SECRET", APP_SECRET)
        monkeypatch.setenv("DATABASE_URL", database_url)
        runner = CliRunner()
        made = await asyncio.to_thread(
            runner.invoke, cli.app, ["wechat", "qr", "hqnc2345", "--out", str(out)]
        )
        assert made.exit_code == 0, made.output
        assert "http://weixin.qq.com/q/gQ0001" in made.output
        unknown = await asyncio.to_thread(runner.invoke, cli.app, ["wechat", "qr", "ZZZZZZZZ"])
        assert unknown.exit_code != 0
    # The demo codes live a year: longer than a temporary code's 30 days, so a permanent one.
    assert server.qrcodes == [
        {"scene": "HQNC2345", "action": "QR_LIMIT_STR_SCENE", "expire_seconds": 0}
    ]
    assert out.read_bytes().startswith(b"\x89PNG")
