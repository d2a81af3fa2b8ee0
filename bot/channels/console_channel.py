"""The terminal console: one line in, numbered replies out; `/as` switches the demo person."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot.app import Linli
from bot.config import Settings
from bot.delivery import ChannelLimits
from bot.i18n import translate
from bot.media_store import stored_key
from bot.render import numbered_lines
from bot.runtime import Background
from handlers.core import Incoming, Location, Media, Reply
from models.people import bind_account, locale_of, people_in_register
from models.tables import Person

CHANNEL = "console"
# Where `/location` without coordinates puts you: behind building 3 of the demo estate.
DEMO_POINT = (28.1418, 120.9701)


class ConsoleSender:
    """Delivery to console seats: messages for anyone in the register are printed, marked with the name."""

    channel = CHANNEL
    # The terminal has no platform limits; keep it readable.
    limits = ChannelLimits(per_second=200.0, per_chat_interval=0.0, per_group_per_minute=6000.0)

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.names: dict[str, str] = {}
        self.locale = "zh"

    def is_group(self, chat_id: str) -> bool:
        return False

    async def send(self, chat_id: str, reply: Reply, photo_ref: str | None) -> None:
        name = self.names.get(chat_id, chat_id)
        text = translate(self.locale, "console.delivered").format(name=name, text=reply.text)
        lines = [text, *(f"  · {c.label}" for c in reply.choices)]
        if photo_ref:
            lines.insert(1, translate(self.locale, "console.photo_ref").format(ref=photo_ref))
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


class ConsoleChat:
    """A console seat: who is speaking, and where pictures are saved."""

    def __init__(
        self,
        linli: Linli,
        out: TextIO,
        media_dir: Path | None = None,
        sender: ConsoleSender | None = None,
    ) -> None:
        self.linli = linli
        self.out = out
        self.sender = sender or ConsoleSender(out)
        self.seat = "guest"
        self.photos = 0
        # Pictures the bot answers with (QR posters, charts) go to the configured folder.
        self.media_dir = media_dir or Path(linli.settings.files_dir) / "console"

    async def _locale(self) -> str:
        async with self.linli.db.session() as s:
            return await locale_of(s, CHANNEL, self.seat)

    async def _t(self, key: str, **values: object) -> str:
        text = translate(await self._locale(), key)
        return text.format(**values) if values else text

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def seat_everyone(self) -> None:
        """Give each person in the register a console seat, so messages to them show up here."""
        async with self.linli.db.session() as s:
            for p in await people_in_register(s):
                seat = f"person-{p.id}"
                account = await bind_account(s, CHANNEL, seat, p.id, self.linli.clock())
                account.display_name = p.name
                self.sender.names[seat] = p.name

    async def switch(self, who: str) -> None:
        """`/as` alone lists the register; `/as NAME` or `/as NUMBER` continues as that person."""
        async with self.linli.db.session() as s:
            people = await people_in_register(s)
        who = who.strip()
        if not who:
            self._print(await self._t("console.as_list"))
            for i, p in enumerate(people, 1):
                self._print(f"  {i}. {p.name}")
            self._print(f"  0. {await self._t('console.guest_label')}")
            return
        if who in ("0", "guest"):
            self.seat = "guest"
            self._print(await self._t("console.as_guest"))
            return
        chosen: Person | None = None
        if who.isdigit() and 1 <= int(who) <= len(people):
            chosen = people[int(who) - 1]
        else:
            chosen = next((p for p in people if p.name == who), None)
        if chosen is None:
            self._print(await self._t("console.as_unknown"))
            return
        self.seat = f"person-{chosen.id}"
        async with self.linli.db.session() as s:
            await bind_account(s, CHANNEL, self.seat, chosen.id, self.linli.clock())
        self._print(await self._t("console.as_now", name=chosen.name))

    def incoming(self, line: str) -> Incoming:
        """A typed line; /photo, /location and /voice stand in for what a phone would send."""
        base = Incoming(channel=CHANNEL, chat_id=self.seat, user_id=self.seat)
        word, _, rest = line.strip().partition(" ")
        if word == "/photo":
            self.photos += 1
            media = Media(CHANNEL, f"photo-{self.photos}.jpg", "photo", 150_000)
            return replace(base, text=rest.strip(), photos=(media,))
        if word == "/voice":
            self.photos += 1
            return replace(base, voice=Media(CHANNEL, f"voice-{self.photos}.amr", "voice"))
        if word == "/location":
            lat, _, lon = rest.replace("，", ",").partition(",")
            try:
                point = Location(float(lat), float(lon))
            except ValueError:
                point = Location(*DEMO_POINT)
            return replace(base, location=point)
        return replace(base, text=line)

    async def _saved(self, ref: str) -> str:
        """A stored picture written to the media folder (its path), else its reference."""
        key = stored_key(ref)
        if key is not None:
            try:
                data, _type = await self.linli.media.read(key)
            except (KeyError, OSError):
                data = b""
            if data:
                self.media_dir.mkdir(parents=True, exist_ok=True)
                path = self.media_dir / key
                path.write_bytes(data)
                return await self._t("console.photo_saved", path=path)
        return await self._t("console.photo_ref", ref=ref)

    async def say(self, line: str) -> list[Reply]:
        """Handle one typed line and print the answer."""
        if line.strip().startswith("/as"):
            await self.switch(line.strip()[3:])
            return []
        replies = await self.linli.handle(self.incoming(line.rstrip("\r\n")))
        for reply in replies:
            for ref, caption in reply.album:  # numbered pictures, saved where they can be opened
                self._print(f"{caption} " + await self._saved(ref))
            if reply.photo_ref is not None:
                self._print(await self._t("console.photo_ref", ref=reply.photo_ref))
            if reply.photo is not None:
                self.media_dir.mkdir(parents=True, exist_ok=True)  # made when first needed
                path = self.media_dir / (reply.photo_name or "photo.png")
                path.write_bytes(reply.photo)
                self._print(await self._t("console.photo_saved", path=path))
        for block in numbered_lines(replies):
            self._print(block)
        return replies


async def run_console(
    linli: Linli,
    as_name: str | None,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    *,
    settings: Settings | None = None,
) -> None:
    """Chat in the terminal until end of input; works with piped input too.

    Messages the bot sends unasked (notices, reminders) are delivered to console seats and
    printed as they go out; at the end of piped input, what is due is delivered before exit.
    """
    sender = ConsoleSender(out)
    chat = ConsoleChat(linli, out, sender=sender)
    background = Background(linli, [sender], settings or linli.settings)
    interactive = stdin.isatty()
    chat._print(await chat._t("console.hint"))
    await chat.seat_everyone()
    background.start()
    # Lead the clock and delivery unless another process on this database already does.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(background.leading.wait(), 2)
    if as_name:
        await chat.switch(as_name)
    try:
        while True:
            if interactive:
                out.write("> ")
                out.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            if not line.strip() and not interactive:
                continue
            if not interactive:
                chat._print(f"> {line.rstrip()}")
            await chat.say(line)
    finally:
        if not interactive and background.leading.is_set():
            await background.tick()
            await background.worker.drain()
        await background.stop()
