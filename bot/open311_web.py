"""Open311 GeoReport v2 at /open311/v2/: services, requests (list, one, POST), tokens.

Errors are the spec's list, `[{"code": 400, "description": "..."}]`. A POST needs an api_key
(`linli open311 key`) and files the report through `models.open311.file_request`, which is
the chat's `report_problem`: the report gets its task, pushed to the volunteers. Nothing
about the reporter is ever answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import Linli
from bot.i18n import translate
from models.errors import DomainError
from models.open311 import (
    Filters,
    client_of,
    file_request,
    list_requests,
    report_of_token,
    request_of,
    service_codes,
)
from models.open311 import (
    Request as ServiceRequest,
)

PREFIX = "/open311/v2"
MAX_BODY = 64 * 1024


def errors(code: int, description: str) -> JSONResponse:
    """The spec's error answer."""
    return JSONResponse([{"code": code, "description": description}], status_code=code)


def _locale(request: Request) -> str:
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") else "zh"


def _request_id(text: str) -> int:
    """A service_request_id: digits only, and small enough for the database's integer."""
    text = text.strip()
    if not text.isdigit() or len(text) > 9:
        raise ValueError(f"service_request_id {text[:20]!r} is not a request number")
    return int(text)


def _w3c(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a time zone is required")
    return moment


def service_name(locale: str, code: str) -> str:
    """A category's name without the chat's emoji ('🧹 杂物堆放' → '杂物堆放')."""
    text = translate(locale, f"report.cat_{code}")
    head, _, rest = text.partition(" ")
    return rest if rest and not any(ch.isalnum() for ch in head) else text


def _request_json(item: ServiceRequest, locale: str) -> dict[str, Any]:
    r = item.report
    return {
        "service_request_id": str(r.id),
        "status": item.status,
        "status_notes": translate(locale, f"report.state_{r.state}"),
        "service_name": service_name(locale, r.category),
        "service_code": r.category,
        "description": r.description,
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": _w3c(r.created_at),
        "updated_datetime": _w3c(r.updated_at),
        "expected_datetime": _w3c(r.respond_by),
        "address": item.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": r.latitude,
        "long": r.longitude,
        "media_url": None,
    }


async def _fields(request: Request, body: bytes) -> dict[str, str]:
    """The POST's fields. A url-encoded body is read as UTF-8 whether or not the client
    percent-encoded it (curl -d sends Chinese raw; Starlette's parser would read it as Latin-1)."""
    if request.headers.get("content-type", "").startswith("multipart/"):
        form = await request.form(max_files=0, max_fields=40)
        return {k: v for k, v in form.items() if isinstance(v, str)}
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return dict(pairs[:40])


def open311_routes(linli: Linli) -> list[Route]:
    """The GeoReport v2 endpoints of `linli serve`."""

    def services_list(locale: str) -> list[dict[str, Any]]:
        return [
            {
                "service_code": code,
                "service_name": service_name(locale, code),
                "description": service_name("en" if locale == "zh" else "zh", code),
                "metadata": False,
                "type": "realtime",
                "keywords": "",
                "group": "",
            }
            for code in service_codes()
        ]

    async def services_json(request: Request) -> Response:
        return JSONResponse(services_list(_locale(request)))

    async def services_xml(request: Request) -> Response:
        parts = ['<?xml version="1.0" encoding="utf-8"?><services>']
        for s in services_list(_locale(request)):
            parts.append(
                "<service>"
                + "".join(
                    f"<{k}>{escape(str(v).lower() if isinstance(v, bool) else str(v))}</{k}>"
                    for k, v in s.items()
                )
                + "</service>"
            )
        parts.append("</services>")
        return Response("".join(parts), media_type="text/xml; charset=utf-8")

    async def requests_json(request: Request) -> Response:
        if request.method == "POST":
            return await post_request(request)
        q = request.query_params
        try:
            ids = tuple(
                _request_id(i) for i in q.get("service_request_id", "").split(",") if i.strip()
            )
            codes = tuple(c for c in q.get("service_code", "").split(",") if c.strip())
            statuses = tuple(
                sorted({s.strip() for s in q.get("status", "").split(",") if s.strip()})
            )
            if any(s not in ("open", "closed") for s in statuses):
                raise ValueError("status is open or closed")
            filters = Filters(
                service_codes=codes,
                statuses=statuses if len(statuses) == 1 else (),
                start=_parse_time(q.get("start_date")),
                end=_parse_time(q.get("end_date")),
                ids=ids,
            )
        except ValueError as err:
            return errors(400, f"bad parameter: {err}")
        async with linli.db.session() as session:
            found = await list_requests(session, filters)
        locale = _locale(request)
        return JSONResponse([_request_json(item, locale) for item in found])

    async def post_request(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return errors(413, "request too large")
        values = await _fields(request, body)
        try:
            lat = float(values["lat"]) if values.get("lat") else None
            long = float(values["long"]) if values.get("long") else None
        except ValueError:
            return errors(400, "lat and long must be numbers")
        try:
            async with linli.db.session() as session:
                client = await client_of(session, values.get("api_key"))
                if client is None:
                    raise PermissionError
                report, token = await file_request(
                    session, client, service_code=values.get("service_code", ""),
                    description=values.get("description", ""), now=linli.clock(),
                    lat=lat, long=long, address=values.get("address_string"),
                )  # fmt: skip
        except PermissionError:
            return errors(403, "api_key missing or not valid")
        except DomainError as err:
            text = translate("en", err.key)
            return errors(400, text.format(**err.values) if err.values else text)
        for listener in linli.after_commit:  # the task's pushes go out now
            listener()
        return JSONResponse(
            [{"service_request_id": str(report.id), "token": token, "service_notice": None,
              "account_id": None}],
            status_code=201,
        )  # fmt: skip

    async def one_request(request: Request) -> Response:
        raw = request.path_params["id"]
        if not raw.isdigit() or len(raw) > 9:
            return errors(404, "no such service request")
        async with linli.db.session() as session:
            found = await request_of(session, int(raw))
        if found is None:
            return errors(404, "no such service request")
        return JSONResponse([_request_json(found, _locale(request))])

    async def token(request: Request) -> Response:
        raw = request.path_params["token"]
        async with linli.db.session() as session:
            report_id = await report_of_token(session, raw)
        if report_id is None:
            return errors(404, "no such token")
        return JSONResponse([{"service_request_id": str(report_id), "token": raw}])

    async def not_json(_request: Request) -> Response:
        return errors(400, "only the json format is served here (services also as xml)")

    return [
        Route(f"{PREFIX}/services.json", services_json, methods=["GET"]),
        Route(f"{PREFIX}/services.xml", services_xml, methods=["GET"]),
        Route(f"{PREFIX}/requests.json", requests_json, methods=["GET", "POST"]),
        Route(f"{PREFIX}/requests.xml", not_json, methods=["GET", "POST"]),
        Route(f"{PREFIX}/requests/{{id}}.json", one_request, methods=["GET"]),
        Route(f"{PREFIX}/tokens/{{token}}.json", token, methods=["GET"]),
    ]
