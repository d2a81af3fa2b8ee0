"""The staff desk's plumbing: templates, language, the signed-in session, CSRF, headers.

Every page runs `async with desk.signed(request) as s:` — one transaction, the viewer read from
the session cookie (redirect to the sign-in help when there is none), for a POST the form read
and its CSRF token checked (403 without it). A DomainError raised inside rolls the transaction
back, so a refused action changes nothing; the route turns it into a page saying why.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app import Linli
from bot.i18n import LOCALES, translate
from models.console import ConsoleSession, Viewer, signed_in
from models.errors import DomainError
from models.people import community_zone

HERE = Path(__file__).parent
COOKIE = "linli_desk"
LANG_COOKIE = "linli_lang"
MAX_FIELD_BYTES = 64 * 1024  # one text field of a form (files are read separately)

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """ASGI middleware: the headers above on every response of the desk."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


class NotSignedIn(Exception):
    """No valid session: the sign-in help page."""


class Forbidden(Exception):
    """A form without its CSRF token, or one the viewer may not send: 403."""


class NotFound(Exception):
    """Nothing there, or nothing this viewer may see (the same answer): 404."""


@dataclass
class Signed:
    """One request of a signed-in viewer: the transaction, who, and how to render."""

    desk: Desk
    request: Request
    session: AsyncSession
    viewer: Viewer
    console_session: ConsoleSession
    locale: str
    zone: ZoneInfo
    form: FormData | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def t(self, key: str, **values: Any) -> str:
        text = translate(self.locale, key)
        return text.format(**values) if values else text

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """A page with the layout's navigation, language switch and sign-out form."""
        return self.desk.render(
            self.request,
            template,
            status=status,
            locale=self.locale,
            viewer=self.viewer,
            csrf=self.console_session.csrf,
            zone=self.zone,
            **values,
        )

    def field(self, name: str, limit: int = 500) -> str:
        """A text field of the posted form ('' when missing), cut to a sane length."""
        value = self.form.get(name) if self.form is not None else None
        return value[:limit] if isinstance(value, str) else ""

    def local(self, moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A stored UTC time as the community's clock shows it."""
        return moment.astimezone(self.zone).strftime(fmt) if moment else ""


class Desk:
    """Shared by every page: the bot (its database, clock, media), the templates."""

    def __init__(self, linli: Linli) -> None:
        self.linli = linli
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def now(self) -> datetime:
        return self.linli.clock()

    def committed(self) -> None:
        """After a committed change: wake the delivery worker (its messages go out now)."""
        for listener in self.linli.after_commit:
            listener()

    def locale_of(self, request: Request, person_locale: str | None = None) -> str:
        """The language switch's cookie, else the person's own language, else Chinese."""
        chosen = request.cookies.get(LANG_COOKIE)
        if chosen in LOCALES:
            return str(chosen)
        return person_locale if person_locale in LOCALES else "zh"

    def render(
        self, request: Request, template: str, *, status: int = 200, locale: str, **values: Any
    ) -> HTMLResponse:
        def t(key: str, **kw: Any) -> str:
            text = translate(locale, key)
            return text.format(**kw) if kw else text

        def category(code: str) -> str:
            # The chat's labels start with an emoji ("🧹 杂物堆放"); a page names it plainly.
            text = t(f"report.cat_{code}")
            head, _, rest = text.partition(" ")
            return rest if rest and not any(ch.isalnum() for ch in head) else text

        html = self.env.get_template(template).render(
            t=t,
            cat_name=category,
            lang=locale,
            path=request.url.path,
            query=str(request.url.query),
            **values,
        )
        return HTMLResponse(html, status_code=status)

    @asynccontextmanager
    async def signed(self, request: Request, *, post: bool = False) -> AsyncIterator[Signed]:
        """One transaction of a signed-in viewer (NotSignedIn, Forbidden: see the module doc)."""
        form = None
        if post:
            form = await request.form(max_files=1, max_fields=50, max_part_size=MAX_FIELD_BYTES)
        try:
            async with self.linli.db.session() as session:
                found = await signed_in(session, request.cookies.get(COOKIE), self.now())
                if found is None:
                    raise NotSignedIn()
                viewer, console_session = found
                if post:
                    given = form.get("csrf") if form is not None else None
                    if not isinstance(given, str) or not hmac.compare_digest(
                        given.encode(), console_session.csrf.encode()
                    ):
                        raise Forbidden()
                yield Signed(
                    desk=self,
                    request=request,
                    session=session,
                    viewer=viewer,
                    console_session=console_session,
                    locale=self.locale_of(request, viewer.person.locale),
                    zone=await community_zone(session, viewer.community_id),
                    form=form,
                )
        finally:
            if form is not None:
                await form.close()  # an uploaded file's temporary copy

    def refused(self, request: Request, err: DomainError, back: str) -> HTMLResponse:
        """A refused action: why, in the viewer's language, and the way back (nothing changed)."""
        locale = self.locale_of(request)
        text = translate(locale, err.key)
        message = text.format(**err.values) if err.values else text
        return self.render(
            request, "refused.html", status=400, locale=locale, message=message, back=back
        )


Page = Callable[[Request], Awaitable[Response]]


def see_other(url: str) -> RedirectResponse:
    """After a POST: the page to show (303, so a reload does not post again)."""
    return RedirectResponse(url, status_code=303)


def int_or_none(value: str | None) -> int | None:
    """A small positive integer from a query string, or None."""
    if value is None or not value.isdigit() or len(value) > 9:
        return None
    return int(value)
