"""`linli serve` and `linli run` end to end: webhook registration, long polling."""

from __future__ import annotations

import httpx

from bot.app import Linli
from bot.channels.telegram_channel import build_application
from bot.config import Settings
from bot.web import serving_app
from models.db import Database
from tests.conftest import WEBHOOK_SECRET, FakeClock
from tests.fakes.telegram import FakeBotApi, RecordingRequest


async def test_serve_registers_the_webhook_with_its_secret_and_answers(
    settings: Settings, demo: Database, api: FakeBotApi
) -> None:
    settings.telegram_webhook_url = "https://linli.example.org/webhook/telegram"
    web = serving_app(settings, request=RecordingRequest(api))
    async with web.router.lifespan_context(web):
        assert api.webhook["url"] == settings.telegram_webhook_url
        assert api.webhook["secret_token"] == WEBHOOK_SECRET
        assert None in api.commands and "en" in api.commands
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as client:
            response = await client.post(
                settings.telegram_webhook_path,
                json=api.text_update(900, "我能领尊老金吗"),
                headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            )
    assert response.status_code == 200
    assert "办事申请" in api.to_chat(900)[0].text


async def test_long_polling_answers_queued_updates(
    settings: Settings, demo: Database, clock: FakeClock, api: FakeBotApi
) -> None:
    app = build_application(
        Linli(settings, db=demo, clock=clock), settings, request=RecordingRequest(api)
    )
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        api.queue(api.text_update(901, "/start"))
        api.queue(api.text_update(902, "/lang en"))
        first = await api.wait_for_messages(901, 1)
        second = await api.wait_for_messages(902, 1)
        await app.updater.stop()
        await app.stop()
    assert "邻里小助手" in first[0].text
    assert "English" in second[0].text
