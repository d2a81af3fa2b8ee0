"""The resident register (managers): upload a .xlsx / .csv and see the per-row report; export.

The upload is checked inside the request's transaction (role, CSRF, that it is a register at
all: a picture named .xlsx is refused there and nothing changes). The import itself then runs
outside it, as a job of `Linli.jobs` under the same key as the chat's imports (one per community
at a time): it commits in chunks of its own, which must not wait for a transaction this request
holds open (on SQLite that would be two writers, and a hang). The page waits for its report.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlmodel import col
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.desk import Desk, Forbidden
from models.benefits import community_today
from models.errors import DomainError
from models.idcard import mask
from models.register import (
    MAX_BYTES,
    ImportReport,
    RegisterImport,
    check_header,
    import_register,
    register_rows,
    write_register,
)
from models.register.export import ID_COLUMN

MAX_SHOWN_ROWS = 500


def routes(desk: Desk) -> list[Route]:
    linli = desk.linli

    async def page(request: Request) -> Response:
        async with desk.signed(request) as s:
            if not s.viewer.is_manager:
                raise Forbidden()
            imports = list(
                (
                    await s.session.execute(
                        select(RegisterImport)
                        .where(col(RegisterImport.community_id) == s.viewer.community_id)
                        .order_by(col(RegisterImport.id).desc())
                        .limit(20)
                    )
                ).scalars()
            )
            return s.render(
                "register.html", imports=imports, report=None, keys=bool(linli.id_cipher)
            )

    async def upload(request: Request) -> Response:
        back = "/console/register"
        try:
            async with desk.signed(request, post=True) as s:
                if not s.viewer.is_manager:
                    raise Forbidden()
                if linli.id_cipher is None:
                    raise DomainError("roster.no_keys")
                file = s.form.get("file") if s.form is not None else None
                if not isinstance(file, UploadFile):
                    raise DomainError("web.no_file")
                data = await file.read(MAX_BYTES + 1)
                if len(data) > MAX_BYTES:
                    raise DomainError("roster.too_big", mb=MAX_BYTES // (1024 * 1024))
                check_header(data)  # a picture named .xlsx: refused here, nothing written
                filename = (file.filename or "register")[-128:]
                community_id, by_id = s.viewer.community_id, s.viewer.id
                today = await community_today(s.session, community_id, desk.now())
                render = s.render
        except DomainError as err:
            return desk.refused(request, err, back)
        assert linli.id_cipher is not None
        cipher = linli.id_cipher
        done: asyncio.Future[ImportReport] = asyncio.get_running_loop().create_future()

        async def work() -> None:
            try:
                report = await import_register(
                    linli.db, cipher, community_id=community_id, data=data, filename=filename,
                    now=desk.now(), today=today, by_id=by_id, source="web",
                )  # fmt: skip
                done.set_result(report)
            except DomainError as err:  # not a register after all: the page says why
                done.set_exception(err)
            except BaseException as err:
                done.set_exception(err)
                raise

        if not linli.jobs.start(f"register:{community_id}", work):
            return desk.refused(request, DomainError("roster.import_busy"), back)
        try:
            report = await asyncio.shield(done)
        except DomainError as err:
            return desk.refused(request, err, back)
        desk.committed()
        return render(
            "register.html",
            imports=[],
            report=report,
            rows=report.rows[:MAX_SHOWN_ROWS],
            filename=filename,
            keys=True,
        )

    async def export(request: Request) -> Response:
        async with desk.signed(request) as s:
            if not s.viewer.is_manager:
                raise Forbidden()
            if linli.id_cipher is None:
                return desk.refused(request, DomainError("roster.no_keys"), "/console/register")
            rows = await register_rows(s.session, linli.id_cipher, s.viewer.community_id)
        # The desk never shows a whole ID number, not even in a file: the full register stays
        # with `linli export residents` on the server.
        for row in rows[1:]:
            if row[ID_COLUMN]:
                row[ID_COLUMN] = mask(row[ID_COLUMN])
        body = write_register(rows, "register.xlsx")
        return Response(
            body,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"content-disposition": 'attachment; filename="register-masked.xlsx"'},
        )

    return [
        Route("/register", page, methods=["GET"]),
        Route("/register/upload", upload, methods=["POST"]),
        Route("/register/export", export, methods=["GET"]),
    ]
