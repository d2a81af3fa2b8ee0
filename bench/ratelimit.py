"""Measure, don't assume: python-telegram-bot's AIORateLimiter vs Linli's pacer against Telegram's limits.

Both send the same two workloads through the real PTB Bot to the fake Bot API, which
enforces Telegram's limits (30 a second overall, 1 a second per private chat) and answers
429 when they are broken:

  burst  — 90 messages to 90 different chats, all at once (a broadcast starting);
  chat   — 5 messages to one private chat, all at once (a reminder, a report, a push …).

Run: python -m bench.ratelimit. The last line is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from telegram import Bot
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, ExtBot

from bot.channels.telegram_channel import TelegramSender
from bot.delivery import ChannelLimits, ChannelState, Pacer
from handlers.core import Reply
from tests.fakes.telegram import TOKEN, FakeBotApi, Limits, RecordingRequest

BASE = "https://api.telegram.invalid/bot"
WORKLOADS = {"burst": [str(1000 + i) for i in range(90)], "chat": ["42"] * 5}


def fresh_api() -> FakeBotApi:
    """A fake Bot API enforcing Telegram's limits."""
    return FakeBotApi(limits=Limits(per_second=30, per_chat_interval=1.0))


async def with_aioratelimiter(chats: list[str]) -> dict[str, Any]:
    """PTB's own limiter (no retries, so every 429 shows)."""
    api = fresh_api()
    bot = ExtBot(
        TOKEN,
        base_url=BASE,
        request=RecordingRequest(api),
        rate_limiter=AIORateLimiter(max_retries=0),
    )
    async with bot:
        start = time.perf_counter()

        async def one(chat: str) -> None:
            try:
                await bot.send_message(chat, "通知")
            except RetryAfter:
                pass

        await asyncio.gather(*(one(c) for c in chats))
        elapsed = time.perf_counter() - start
    return {"http_429": api.http_429, "delivered": api.delivered(), "seconds": round(elapsed, 2)}


async def with_linli_pacer(chats: list[str]) -> dict[str, Any]:
    """The delivery worker's pacing (ChannelState: per-chat gap, then a burst-free channel slot)."""
    api = fresh_api()
    async with Bot(TOKEN, base_url=BASE, request=RecordingRequest(api)) as bot:
        sender = TelegramSender(bot, ChannelLimits(per_second=30, per_chat_interval=1.0))
        state = ChannelState(sender, Pacer(30))
        start = time.perf_counter()

        async def one(chat: str) -> None:
            await state.wait_turn(chat)
            await sender.send(chat, Reply("通知"), None)

        await asyncio.gather(*(one(c) for c in chats))
        elapsed = time.perf_counter() - start
    return {"http_429": api.http_429, "delivered": api.delivered(), "seconds": round(elapsed, 2)}


async def main() -> None:
    """Run both limiters on both workloads and print the comparison."""
    # PTB logs every refused request with a traceback; the counts below say it shorter.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
    result: dict[str, Any] = {}
    for name, chats in WORKLOADS.items():
        ptb = await with_aioratelimiter(chats)
        ours = await with_linli_pacer(chats)
        result[name] = {"messages": len(chats), "aioratelimiter": ptb, "linli_pacer": ours}
        print(f"{name:6} {len(chats):3} msgs | AIORateLimiter: {ptb['http_429']:3} x 429 in {ptb['seconds']}s"
              f" | Linli pacer: {ours['http_429']:3} x 429 in {ours['seconds']}s")  # fmt: skip
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
