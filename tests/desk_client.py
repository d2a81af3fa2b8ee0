"""A browser-less client of the staff desk: the real web app (bot/web.py) over httpx's ASGI
transport, with a cookie jar, the sign-in by link, and the CSRF token read from the page."""

from __future__ import annotations

import asyncio
import io
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from PIL import Image
from sqlalchemy import select

from bot.app import Linli
from bot.config import Settings
from bot.media_store import content_key
from bot.web import create_web_app
from models.console import issue_link
from models.media import record_stored
from models.reports import Place, report_problem
from models.tables import Building, Person

BASE = "http://127.0.0.1:8080"  # Settings.console_base_url's default: the links point here
LINK = re.compile(r"https?://\S+?/console/login/[A-Za-z0-9_-]+")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')


def link_in(text: str) -> str:
    """The sign-in link a /web answer carries."""
    found = LINK.search(text)
    assert found, f"no sign-in link in {text!r}"
    return found.group(0)


async def link_for(linli: Linli, name: str) -> str:
    """A sign-in link for a demo person, as "/web" in the chat would give (the use case itself)."""
    async with linli.db.session() as s:
        person = (await s.execute(select(Person).where(Person.name == name))).scalar_one()
        token = await issue_link(s, person, linli.clock())
    return linli.console_link(token)


class Desk:
    """One browser: its cookies, the last page's CSRF token."""

    def __init__(self, linli: Linli, settings: Settings) -> None:
        self.linli = linli
        self.web = create_web_app(linli, settings)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.web), base_url=BASE)
        self.csrf: str | None = None

    async def __aenter__(self) -> Desk:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.client.aclose()

    async def open_link(self, link: str) -> httpx.Response:
        """Open the link (GET: the page with the button) and press 登录 (POST)."""
        page = await self.client.get(link.replace(BASE, ""))
        if page.status_code != 200:
            return page
        token = TOKEN.search(page.text)
        assert token, page.text
        return await self.client.post("/console/login", data={"token": token.group(1)})

    async def sign_in(self, name: str) -> None:
        """Signed in as a demo person, by a fresh link."""
        answer = await self.open_link(await link_for(self.linli, name))
        assert answer.status_code == 303, answer.text
        await self.get("/console/")

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        """A page (its CSRF token remembered for the next form)."""
        answer = await self.client.get(path, **kw)
        found = CSRF.search(answer.text)
        if found:
            self.csrf = found.group(1)
        return answer

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kw: Any
    ) -> httpx.Response:
        """Post a form as the page would (with its CSRF token unless `csrf=False`)."""
        form = dict(data or {})
        if csrf:
            assert self.csrf, "open a page first"
            form["csrf"] = self.csrf
        return await self.client.post(path, data=form, **kw)


def jpeg(seed: int) -> bytes:
    """A small real JPEG (the media store keeps pictures only)."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (seed % 255, 90, 30)).save(out, "JPEG")
    return out.getvalue()


async def file_case(linli: Linli, reporter: str, estate: str, number: str) -> int:
    """A report with one kept photo, filed as the chat files one; its id."""
    photo = jpeg(len(reporter) + int(number))
    key = content_key(photo, "image/jpeg")
    await linli.media.store.put(key, photo, "image/jpeg")
    now = linli.clock()
    async with linli.db.session() as s:
        await record_stored(s, key=key, kind="photo", content_type="image/jpeg", size=len(photo),
                            channel="telegram", ref="file-1", now=now, copy_expires_at=None)  # fmt: skip
        person = (await s.execute(select(Person).where(Person.name == reporter))).scalar_one()
        building = (
            await s.execute(
                select(Building).where(Building.estate == estate, Building.number == number)
            )
        ).scalar_one()
        report = await report_problem(
            s, reporter=person, category="clutter", description="楼后堆了旧家具",
            place=Place(building_id=building.id), photos=[("store", key)], now=now,
        )  # fmt: skip
        assert report.id is not None
        return report.id


@asynccontextmanager
async def serving(app: object) -> AsyncIterator[str]:
    """The app on a real local socket in this loop (the georeport client, the browser); its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
