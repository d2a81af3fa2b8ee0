"""The terminal console: one line in, numbered replies out; `/as` switches the demo person."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from bot.app import Linli
from bot.i18n import translate
from bot.render import numbered_lines
from handlers.core import Incoming, Reply
from models.people import bind_account, locale_of, people_in_register
from models.tables import Person

CHANNEL = "console"


class ConsoleChat:
    """A console seat: who is speaking, and where pictures are saved."""

    def __init__(self, linli: Linli, out: TextIO, media_dir: Path | None = None) -> None:
        self.linli = linli
        self.out = out
        self.seat = "guest"
        self.media_dir = media_dir or Path(tempfile.gettempdir()) / "linli-console"

    async def _locale(self) -> str:
        async with self.linli.db.session() as s:
            return await locale_of(s, CHANNEL, self.seat)

    async def _t(self, key: str, **values: object) -> str:
        text = translate(await self._locale(), key)
        return text.format(**values) if values else text

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

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

    async def say(self, line: str) -> list[Reply]:
        """Handle one typed line and print the answer."""
        if line.strip().startswith("/as"):
            await self.switch(line.strip()[3:])
            return []
        inc = Incoming(
            channel=CHANNEL, chat_id=self.seat, user_id=self.seat, text=line.rstrip("\r\n")
        )
        replies = await self.linli.handle(inc)
        for reply in replies:
            if reply.photo is not None:
                self.media_dir.mkdir(parents=True, exist_ok=True)
                path = self.media_dir / (reply.photo_name or "photo.png")
                path.write_bytes(reply.photo)
                self._print(await self._t("console.photo_saved", path=path))
        for block in numbered_lines(replies):
            self._print(block)
        return replies


async def run_console(
    linli: Linli, as_name: str | None, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout
) -> None:
    """Chat in the terminal until end of input; works with piped input too."""
    chat = ConsoleChat(linli, out)
    interactive = stdin.isatty()
    chat._print(await chat._t("console.hint"))
    if as_name:
        await chat.switch(as_name)
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
