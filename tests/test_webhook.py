"""The Telegram webhook endpoint: only Telegram (who knows the secret) gets in."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from bot.app import Linli
from bot.config import Settings
from bot.web import create_web_app, secret_matches
from models.db import Database
from models.tables import ProcessedUpdate
from tests.conftest import WEBHOOK_SECRET, FakeClock
from tests.fakes.telegram import FakeBotApi


async def _client(
    telegram, settings: Settings, demo: Database, clock: FakeClock
) -> httpx.AsyncClient:
    app = await telegram()
    web = create_web_app(Linli(settings, db=demo, clock=clock), settings, app)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://linli.test")


async def _processed(db: Database) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(ProcessedUpdate))).scalar_one()


async def test_without_or_with_a_wrong_secret_nothing_is_processed(
    telegram, settings: Settings, demo: Database, clock: FakeClock, api: FakeBotApi
) -> None:
    update = api.text_update(700, "/start")
    async with await _client(telegram, settings, demo, clock) as client:
        no_header = await client.post(settings.telegram_webhook_path, json=update)
        wrong = await client.post(
            settings.telegram_webhook_path,
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET + "x"},
        )
    assert no_header.status_code == 403
    assert wrong.status_code == 403
    assert api.to_chat(700) == []
    assert await _processed(demo) == 0


async def test_with_the_right_secret_the_update_is_answered(
    telegram, settings: Settings, demo: Database, clock: FakeClock, api: FakeBotApi
) -> None:
    update = api.text_update(701, "/start")
    headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with await _client(telegram, settings, demo, clock) as client:
        first = await client.post(settings.telegram_webhook_path, json=update, headers=headers)
        again = await client.post(settings.telegram_webhook_path, json=update, headers=headers)
        broken = await client.post(
            settings.telegram_webhook_path, content=b"{not json", headers=headers
        )
        health = await client.get("/healthz")
    assert first.status_code == 200 and again.status_code == 200
    assert len(api.to_chat(701)) == 1, "the redelivered update is not answered twice"
    assert "邻里小助手" in api.to_chat(701)[0].text
    assert broken.status_code == 400
    assert health.json() == {"ok": True}


def test_secret_comparison() -> None:
    assert secret_matches("abc", "abc")
    assert not secret_matches("abd", "abc")
    assert not secret_matches(None, "abc")
    assert not secret_matches("", "")
    assert not secret_matches("abc", None)
