"""What the bot keeps in memory per chat stays bounded, however many chats write.

`bench/memory.py` measures `linli run`'s RSS over 100,000 messages and a 100,000-recipient
broadcast; these are the structures that could otherwise grow with the number of chats: the
per-chat locks, the Telegram menu memory and the delivery pacer's per-chat times.
"""

from __future__ import annotations

import gc

from telegram import Bot

from bot.app import Linli
from bot.channels.telegram_channel import MenuMemory, TelegramSender
from bot.delivery import ChannelLimits, ChannelState, Pacer
from handlers.core import Incoming
from models.db import Database
from tests.fakes.telegram import TOKEN, FakeBotApi, RecordingRequest


async def test_the_per_chat_locks_go_when_no_message_of_the_chat_is_in_flight(
    demo: Database, linli: Linli
) -> None:
    for n in range(40):
        chat = str(5000 + n)
        replies = await linli.handle(
            Incoming(channel="telegram", chat_id=chat, user_id=chat, text="帮助", message_id=str(n))
        )
        assert replies
    gc.collect()
    assert len(linli._chat_locks) == 0


def test_the_menu_memory_keeps_the_chats_seen_last_up_to_its_size() -> None:
    memory = MenuMemory(size=100)
    menu = ("📝 我要报事", "❓ 帮助")
    for n in range(1000):
        memory.remember(str(n), menu)
    assert len(memory._shown) == 100
    assert memory.showing("999", menu) and not memory.showing("0", menu)


async def test_the_pacer_forgets_chats_whose_interval_is_over(api: FakeBotApi) -> None:
    now = [0.0]
    limits = ChannelLimits(per_second=1e9, per_chat_interval=1.0, per_group_per_minute=20.0)
    bot = Bot(TOKEN, base_url="https://api.telegram.invalid/bot", request=RecordingRequest(api))
    state = ChannelState(TelegramSender(bot, limits), Pacer(1e9, now=lambda: now[0]))
    for n in range(60_000):  # a broadcast: every chat once, a thousand a (fake) second
        now[0] = n / 1000
        await state.wait_turn(str(10_000 + n))
    # Only the chats still inside their one-second interval are remembered past 50,000.
    assert len(state.chats) <= 50_001
    assert str(10_000 + 59_999) in state.chats and str(10_000) not in state.chats
