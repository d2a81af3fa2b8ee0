"""Signing in with the chat's one-time link, the language switch, signing out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.console_web.desk import COOKIE, LANG_COOKIE, Desk, see_other
from bot.i18n import LOCALES
from models.console import SESSION_TTL, link_is_valid, redeem_link, sign_out
from models.errors import DomainError


def routes(desk: Desk) -> list[Route]:
    """/login/{token} (GET: a page with a button; POST: the session), /logout, /lang/{code}."""

    async def login_page(request: Request) -> Response:
        # A GET only shows the button: chat apps fetch links for previews, and that must not
        # use the link up.
        token = request.path_params["token"]
        async with desk.linli.db.session() as session:
            valid = await link_is_valid(session, token, desk.now())
        locale = desk.locale_of(request)
        if not valid:
            return desk.render(request, "signin_refused.html", status=403, locale=locale)
        return desk.render(request, "signin.html", locale=locale, token=token)

    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=5, max_part_size=1024)
        token = form.get("token")
        locale = desk.locale_of(request)
        if not isinstance(token, str) or len(token) > 64:
            return desk.render(request, "signin_refused.html", status=403, locale=locale)
        try:
            async with desk.linli.db.session() as session:
                cookie, viewer = await redeem_link(session, token, desk.now())
        except DomainError:
            return desk.render(request, "signin_refused.html", status=403, locale=locale)
        response = see_other("/console/")
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=int(SESSION_TTL.total_seconds()),
            path="/console",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        if LANG_COOKIE not in request.cookies and viewer.person.locale in LOCALES:
            response.set_cookie(LANG_COOKIE, viewer.person.locale, path="/console", samesite="lax")
        return response

    async def logout(request: Request) -> Response:
        async with desk.signed(request, post=True):
            pass
        async with desk.linli.db.session() as session:
            await sign_out(session, request.cookies.get(COOKIE), desk.now())
        response = see_other("/console/signed-out")
        response.delete_cookie(COOKIE, path="/console")
        return response

    async def signed_out(request: Request) -> Response:
        return desk.render(request, "signed_out.html", locale=desk.locale_of(request))

    async def language(request: Request) -> Response:
        code = request.path_params["code"]
        back = request.query_params.get("next", "/console/")
        if not back.startswith("/console") or "//" in back or "\\" in back:
            back = "/console/"
        response = RedirectResponse(back, status_code=303)
        if code in LOCALES:
            response.set_cookie(
                LANG_COOKIE, code, max_age=365 * 86400, path="/console", samesite="lax"
            )
        return response

    return [
        Route("/login/{token}", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/signed-out", signed_out, methods=["GET"]),
        Route("/lang/{code}", language, methods=["GET"]),
    ]
