"""Measure, don't assume: python-telegram-bot's AIORateLimiter vs Linli's pacer against Telegram's limits.

Both send the same two workloads through the real PTB Bot to the fake Bot API, which
enforces Telegram's limits (30 a second overall, 1 a second per private chat) and answers
429 when they are broken:

  burst  — 90 messages to 90 different chats, all at once (a broadcast starting);
  chat   — 5 messages to one private chat, all at once (a reminder, a report, a push …).

Run: `python -m bench.ratelimit` (`--smoke`: 40 chats and 2 messages, about 3 s). The last
line is one JSON object: per workload both limiters' 429s, deliveries and seconds, and as
`invariants` that Linli's pacer got no 429 and delivered everything.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ratelimit.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Bot
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter, ExtBot

from bench.harness import emit
from bot.channels.telegram_channel import TelegramSender
from bot.delivery import ChannelLimits, ChannelState, Pacer
from handlers.core import Reply
from tests.fakes.telegram import TOKEN, FakeBotApi, Limits, RecordingRequest

BASE = "https://api.telegram.invalid/bot"


def workloads(smoke: bool) -> dict[str, list[str]]:
    """burst: N different chats at once; chat: M messages to one private chat at once."""
    burst, chat = (40, 2) if smoke else (90, 5)
    return {"burst": [str(1000 + i) for i in range(burst)], "chat": ["42"] * chat}


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


async def compare(smoke: bool) -> dict[str, Any]:
    """Run both limiters on both workloads and print the comparison."""
    # PTB logs every refused request with a traceback; the counts below say it shorter.
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
    result: dict[str, Any] = {"bench": "ratelimit", "smoke": smoke}
    invariants: dict[str, bool] = {}
    for name, chats in workloads(smoke).items():
        ptb = await with_aioratelimiter(chats)
        ours = await with_linli_pacer(chats)
        result[name] = {"messages": len(chats), "aioratelimiter": ptb, "linli_pacer": ours}
        invariants[f"{name}_pacer_no_429"] = ours["http_429"] == 0
        invariants[f"{name}_pacer_delivered_all"] = ours["delivered"] == len(chats)
        print(f"{name:6} {len(chats):3} msgs | AIORateLimiter: {ptb['http_429']:3} x 429 in {ptb['seconds']}s"
              f" | Linli pacer: {ours['http_429']:3} x 429 in {ours['seconds']}s")  # fmt: skip
    result["invariants"] = invariants
    return result


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ratelimit", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--smoke", action="store_true", help="40 chats and 2 messages instead of 90 and 5"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the comparison, then the JSON line; 1 when the pacer got a 429 or lost a message."""
    args = build_parser().parse_args(argv)
    return emit(asyncio.run(compare(args.smoke)))


if __name__ == "__main__":
    sys.exit(main())
