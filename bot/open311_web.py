"""Open311 GeoReport v2 at /open311/v2/: services and their definitions, requests (list, one,
POST), tokens — each as `.json` or `.xml` (bot/open311_format.py: the spec's shapes).

Errors are the spec's list, `[{"code": 400, "description": "..."}]` (or `<errors>`). A POST
needs an api_key (`linli open311 key`) and files the report through `models.open311.file_request`,
which is the chat's `report_problem`: the report gets its task, pushed to the volunteers. A
picture comes as `media_url` (fetched by bot/open311_media.py) or as a multipart `media` file,
and is kept in the media store like a chat photo. `jurisdiction_id` is a community (its number
or name): optional while one community is served, and when given it must be known (404) and,
on a POST, be the key's own. Nothing about the reporter is ever answered.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app import Linli
from bot.i18n import translate
from bot.open311_format import FORMATS, answer, errors
from bot.open311_media import CHANNEL, url_fetcher
from handlers.core import Media
from models.errors import DomainError
from models.media import STORE
from models.open311 import (
    ATTRIBUTES,
    Filters,
    client_of,
    file_request,
    jurisdiction,
    list_requests,
    report_of_token,
    request_of,
    service_codes,
)
from models.open311 import (
    Request as ServiceRequest,
)

PREFIX = "/open311/v2"
MAX_BODY = 64 * 1024  # a form without a picture
MAX_FIELDS = 40
CHANGESET = "2026-12-03T00:00:00Z"  # when these endpoints last changed (service discovery)


class BadRequest(Exception):
    """A parameter the spec's 400 answers (its text is the description)."""


def _locale(request: Request) -> str:
    return "en" if request.headers.get("accept-language", "").lower().startswith("en") else "zh"


def _request_id(text: str) -> int:
    """A service_request_id: digits only, and small enough for the database's integer."""
    text = text.strip()
    if not text.isdigit() or len(text) > 9:
        raise BadRequest(f"service_request_id {text[:20]!r} is not a request number")
    return int(text)


def _w3c(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _parse_time(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise BadRequest(f"{name} is not a W3C date and time") from err
    if moment.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (Z or +08:00)")
    return moment


def _coordinate(text: str | None, name: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError as err:
        raise BadRequest("lat and long must be numbers") from err
    if not math.isfinite(value):
        raise BadRequest("lat and long must be numbers")
    return value


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
        # A resident's photo is shown on the desk to staff, never on a public URL.
        "media_url": None,
    }


async def _capped_body(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` (read no further)."""
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _fields(
    request: Request, body: bytes, max_photo: int
) -> tuple[dict[str, str], bytes | None]:
    """The POST's fields, and the `media` file's bytes of a multipart POST. A url-encoded body
    is read as UTF-8 whether or not the client percent-encoded it (curl -d sends Chinese raw;
    Starlette's parser would read it as Latin-1)."""
    if request.headers.get("content-type", "").startswith("multipart/"):

        async def stream() -> AsyncIterator[bytes]:
            yield body
            yield b""

        parser = MultiPartParser(
            request.headers, stream(), max_files=1, max_fields=MAX_FIELDS,
            max_part_size=max_photo,
        )  # fmt: skip
        try:
            form = await parser.parse()
        except MultiPartException as err:
            raise BadRequest(f"the form could not be read: {err.message}") from err
        try:
            media = form.get("media")
            data = await media.read() if isinstance(media, UploadFile) else None
            return {k: v for k, v in form.items() if isinstance(v, str)}, data
        finally:
            await form.close()
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return dict(pairs[:MAX_FIELDS]), None


def services_list(locale: str) -> list[dict[str, Any]]:
    other = "en" if locale == "zh" else "zh"
    return [
        {
            "service_code": code,
            "service_name": service_name(locale, code),
            "description": service_name(other, code),
            "metadata": bool(ATTRIBUTES[code]),
            "type": "realtime",
            "keywords": "",
            "group": "",
        }
        for code in service_codes()
    ]


def definition(locale: str, code: str) -> dict[str, Any]:
    """A service definition: the questions a report of this category may answer."""
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": None,
                "order": a.order,
                "description": translate(locale, a.description_key),
            }
            for a in ATTRIBUTES[code]
        ],
    }


def open311_routes(linli: Linli) -> list[Route]:
    """The GeoReport v2 endpoints of `linli serve`."""
    max_photo = linli.settings.media_max_photo_bytes
    linli.media_fetchers.setdefault(CHANNEL, url_fetcher(max_photo))

    def format_of(request: Request) -> str | None:
        fmt = request.path_params.get("fmt", "")
        return fmt if fmt in FORMATS else None

    async def community_asked(given: str | None) -> int | None:
        """The community a jurisdiction_id names (None when not given); LookupError when unknown
        (the caller answers the spec's 404)."""
        if not (given or "").strip():
            return None
        async with linli.db.session() as session:
            found = await jurisdiction(session, given)
        if found is None:
            raise LookupError
        return found.id

    async def services(request: Request) -> Response:
        fmt = format_of(request)
        if fmt is None:
            return errors(404, "the formats are json and xml")
        try:
            await community_asked(request.query_params.get("jurisdiction_id"))
        except LookupError:
            return errors(404, "jurisdiction_id not found", fmt)
        return answer(fmt, services_list(_locale(request)), root="services", item="service")

    async def service_definition(request: Request) -> Response:
        fmt = format_of(request)
        if fmt is None:
            return errors(404, "the formats are json and xml")
        code = request.path_params["code"]
        if code not in service_codes():
            return errors(404, "no such service_code", fmt)
        if not ATTRIBUTES[code]:
            return errors(404, f"service {code} has no definition (metadata is false)", fmt)
        return answer(fmt, definition(_locale(request), code), root="service_definition")

    async def requests_list(request: Request) -> Response:
        fmt = format_of(request)
        if fmt is None:
            return errors(404, "the formats are json and xml")
        if request.method == "POST":
            return await post_request(request, fmt)
        q = request.query_params
        try:
            community_id = await community_asked(q.get("jurisdiction_id"))
        except LookupError:
            return errors(404, "jurisdiction_id not found", fmt)
        try:
            ids = tuple(
                _request_id(i) for i in q.get("service_request_id", "").split(",") if i.strip()
            )
            codes = tuple(c for c in q.get("service_code", "").split(",") if c.strip())
            statuses = tuple(
                sorted({s.strip() for s in q.get("status", "").split(",") if s.strip()})
            )
            if any(s not in ("open", "closed") for s in statuses):
                raise BadRequest("status is open or closed")
            filters = Filters(
                service_codes=codes,
                statuses=statuses if len(statuses) == 1 else (),
                start=_parse_time(q.get("start_date"), "start_date"),
                end=_parse_time(q.get("end_date"), "end_date"),
                ids=ids,
                community_id=community_id,
            )
        except BadRequest as err:
            return errors(400, f"bad parameter: {err}", fmt)
        async with linli.db.session() as session:
            found = await list_requests(session, filters, linli.clock())
        locale = _locale(request)
        rows = [_request_json(item, locale) for item in found]
        return answer(fmt, rows, root="service_requests", item="request")

    async def picture(values: dict[str, str], upload: bytes | None) -> tuple[list, str | None]:
        """The report's photo (a media-store reference) and a notice when it was not kept."""
        url = values.get("media_url", "").strip()
        if upload:
            try:
                kept = await linli.media.keep_bytes(upload, Media(CHANNEL, "upload"))
            except Exception:  # NotKept, or the store: the report is still filed
                kept = None
        elif url:
            kept = await linli.media.keep_file(Media(CHANNEL, url))
        else:
            return [], None
        if kept is None or kept.channel != STORE:
            return [], "the picture was not kept (not a picture, too big, or not reachable)"
        return [(STORE, kept.ref)], None

    async def post_request(request: Request, fmt: str) -> Response:
        multipart = request.headers.get("content-type", "").startswith("multipart/")
        body = await _capped_body(request, MAX_BODY + (max_photo if multipart else 0))
        if body is None:
            return errors(413, "request too large", fmt)
        try:
            values, upload = await _fields(request, body, max_photo)
            lat = _coordinate(values.get("lat"), "lat")
            long = _coordinate(values.get("long"), "long")
        except BadRequest as err:
            return errors(400, str(err), fmt)
        async with linli.db.session() as session:
            client = await client_of(session, values.get("api_key"))
            given = values.get("jurisdiction_id", "").strip()
            asked = await jurisdiction(session, given) if given else None
        if client is None:
            return errors(403, "api_key missing or not valid", fmt)
        if given and asked is None:
            return errors(404, "jurisdiction_id not found", fmt)
        if asked is not None and asked.id != client.community_id:
            return errors(403, "this api_key is not for that jurisdiction_id", fmt)
        if values.get("service_code", "") not in service_codes():
            return errors(400, translate("en", "open311.bad_service_code"), fmt)
        # The picture is fetched before the report's transaction (no database held meanwhile).
        photos, notice = await picture(values, upload)
        detail = values.get("attribute[place_detail]", "").strip()
        try:
            async with linli.db.session() as session:
                client = await client_of(session, values.get("api_key"))
                if client is None:
                    raise PermissionError
                report, token = await file_request(
                    session, client, service_code=values.get("service_code", ""),
                    description=values.get("description", ""), now=linli.clock(),
                    lat=lat, long=long, address=detail or values.get("address_string"),
                    photos=photos,
                )  # fmt: skip
        except PermissionError:
            return errors(403, "api_key missing or not valid", fmt)
        except DomainError as err:
            text = translate("en", err.key)
            return errors(400, text.format(**err.values) if err.values else text, fmt)
        for listener in linli.after_commit:  # the task's pushes go out now
            listener()
        row = {"service_request_id": str(report.id), "token": token, "service_notice": notice,
               "account_id": None}  # fmt: skip
        return answer(fmt, [row], root="service_requests", item="request", status=201)

    async def one_request(request: Request) -> Response:
        fmt = format_of(request)
        if fmt is None:
            return errors(404, "the formats are json and xml")
        raw = request.path_params["id"]
        try:
            community_id = await community_asked(request.query_params.get("jurisdiction_id"))
        except LookupError:
            return errors(404, "jurisdiction_id not found", fmt)
        if not raw.isdigit() or len(raw) > 9:
            return errors(404, "no such service request", fmt)
        async with linli.db.session() as session:
            found = await request_of(session, int(raw), community_id)
        if found is None:
            return errors(404, "no such service request", fmt)
        row = _request_json(found, _locale(request))
        return answer(fmt, [row], root="service_requests", item="request")

    async def token(request: Request) -> Response:
        fmt = format_of(request)
        if fmt is None:
            return errors(404, "the formats are json and xml")
        raw = request.path_params["token"]
        async with linli.db.session() as session:
            report_id = await report_of_token(session, raw)
        if report_id is None:
            return errors(404, "no such token", fmt)
        row = {"service_request_id": str(report_id), "token": raw}
        return answer(fmt, [row], root="service_requests", item="request")

    async def discovery(request: Request) -> Response:
        """Service discovery (the spec's companion): where the v2 endpoint is, in which formats."""
        fmt = format_of(request)
        if fmt is None:
            return errors(404, "the formats are json and xml")
        base = linli.settings.console_base_url.rstrip("/")
        body = {
            "changeset": CHANGESET,
            "contact": "",
            "key_service": "linli open311 key CLIENT --community NAME",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": f"{base}{PREFIX}",
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        }
        return answer(fmt, body, root="discovery")

    return [
        Route("/open311/discovery.{fmt}", discovery, methods=["GET"]),
        Route(f"{PREFIX}/services.{{fmt}}", services, methods=["GET"]),
        Route(f"{PREFIX}/services/{{code}}.{{fmt}}", service_definition, methods=["GET"]),
        Route(f"{PREFIX}/requests.{{fmt}}", requests_list, methods=["GET", "POST"]),
        Route(f"{PREFIX}/requests/{{id}}.{{fmt}}", one_request, methods=["GET"]),
        Route(f"{PREFIX}/tokens/{{token}}.{{fmt}}", token, methods=["GET"]),
    ]
