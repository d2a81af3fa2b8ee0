"""Open311 GeoReport v2, the rest of the spec: every answer also as the spec's XML, service
definitions, jurisdiction_id, the 90-day default window, lat/long checked, and a picture given
as media_url (fetched from a real local HTTP server) or uploaded as a multipart `media` file,
kept in the media store like a chat photo."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from georeport import GeoReport
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from bot.app import Linli
from bot.config import Settings
from bot.open311_media import CHANNEL, MediaRefused, url_fetcher
from bot.web import create_web_app
from models.db import Database
from models.media import StoredMedia
from models.reports import Report, ReportPhoto
from tests.conftest import FakeClock
from tests.desk_client import jpeg, serving
from tests.test_open311 import AT_BUILDING_3, V2, _client, _key, _pushes_to
from tests.wechat_chat import link_account


def _xml(answer: httpx.Response) -> ET.Element:
    assert answer.headers["content-type"].startswith("text/xml"), answer.headers
    assert answer.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(answer.content)


@asynccontextmanager
async def picture_server() -> AsyncIterator[str]:
    """A client app's own web server: a photo, a web page, and a picture too big to take."""

    async def photo(_r: object) -> Response:
        return Response(jpeg(7), media_type="image/jpeg")

    async def page(_r: object) -> Response:
        return Response("<html>not a picture</html>", media_type="text/html")

    async def huge(_r: object) -> Response:
        return Response(b"\xff" * (6 * 1024 * 1024), media_type="image/jpeg")

    app = Starlette(
        routes=[Route("/sofa.jpg", photo), Route("/page.html", page), Route("/huge.jpg", huge)]
    )
    async with serving(app) as base:
        yield base


async def test_every_answer_comes_as_the_specs_xml_too(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    key = await _key(demo, clock)
    form = {"api_key": key, "service_code": "clutter", "description": "3幢后面堆了旧沙发",
            **AT_BUILDING_3}  # fmt: skip
    async with _client(linli, settings) as http:
        no_key = await http.post(f"{V2}/requests.xml", data={**form, "api_key": ""})
        filed = await http.post(f"{V2}/requests.xml", data=form)
        [request] = _xml(filed)
        request_id = request.findtext("service_request_id")
        token = request.findtext("token")
        listed = _xml(await http.get(f"{V2}/requests.xml"))
        one = _xml(await http.get(f"{V2}/requests/{request_id}.xml"))
        by_token = _xml(await http.get(f"{V2}/tokens/{token}.xml"))
        missing = await http.get(f"{V2}/requests/99999.xml")
        bad_format = await http.get(f"{V2}/requests.csv")
        discovery = _xml(await http.get("/open311/discovery.xml"))
        discovery_json = (await http.get("/open311/discovery.json")).json()

    assert no_key.status_code == 403
    errors = _xml(no_key)
    assert errors.tag == "errors" and errors[0].tag == "error"
    assert errors[0].findtext("code") == "403"
    assert filed.status_code == 201 and _xml(filed).tag == "service_requests"
    assert request.tag == "request" and request_id and token
    assert request.find("account_id") is not None  # an empty element, as the spec shows it
    assert [r.findtext("service_request_id") for r in listed] == [request_id]
    [shown] = one
    assert shown.findtext("status") == "open" and shown.findtext("service_code") == "clutter"
    assert shown.findtext("description") == "3幢后面堆了旧沙发"
    assert (shown.findtext("address") or "").startswith("虹桥南村3幢")
    assert by_token[0].findtext("service_request_id") == request_id
    assert missing.status_code == 404 and _xml(missing)[0].findtext("code") == "404"
    assert bad_format.status_code == 404 and bad_format.json()[0]["code"] == 404
    [endpoint] = next(discovery.iter("endpoints"))
    assert endpoint.findtext("url", "").endswith("/open311/v2")
    assert [f.text for f in endpoint.iter("format")] == ["text/xml", "application/json"]
    assert discovery_json["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"


async def test_service_definitions_list_the_questions_and_other_has_none(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    key = await _key(demo, clock)
    async with _client(linli, settings) as http:
        services = {s["service_code"]: s for s in (await http.get(f"{V2}/services.json")).json()}
        clutter = (await http.get(f"{V2}/services/clutter.json")).json()
        clutter_xml = _xml(await http.get(f"{V2}/services/clutter.xml"))
        other = await http.get(f"{V2}/services/other.json")
        unknown = await http.get(f"{V2}/services/potholes.xml")
        filed = await http.post(
            f"{V2}/requests.json",
            data={"api_key": key, "service_code": "clutter", "description": "旧沙发",
                  "attribute[place_detail]": "3幢2单元门口", **AT_BUILDING_3},
        )  # fmt: skip
        [one] = (
            await http.get(f"{V2}/requests/{filed.json()[0]['service_request_id']}.json")
        ).json()

    assert services["clutter"]["metadata"] is True and services["other"]["metadata"] is False
    assert clutter["service_code"] == "clutter"
    [attribute] = clutter["attributes"]
    assert attribute["code"] == "place_detail" and attribute["datatype"] == "string"
    assert attribute["variable"] is True and attribute["required"] is False
    assert attribute["description"].startswith("具体位置")
    assert clutter_xml.tag == "service_definition"
    [xml_attribute] = next(clutter_xml.iter("attributes"))
    assert xml_attribute.tag == "attribute" and xml_attribute.findtext("required") == "false"
    assert other.status_code == 404 and "metadata" in other.json()[0]["description"]
    assert unknown.status_code == 404 and _xml(unknown)[0].findtext("code") == "404"
    assert one["address"] == "虹桥南村3幢 · 3幢2单元门口", (
        "the building, then the attribute's words"
    )


async def test_jurisdiction_id_is_the_community_and_must_be_known(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    key = await _key(demo, clock)
    form = {"api_key": key, "service_code": "hygiene", "description": "垃圾桶满了", **AT_BUILDING_3}
    async with _client(linli, settings) as http:
        filed = await http.post(f"{V2}/requests.json", data={**form, "jurisdiction_id": "虹南社区"})
        elsewhere = await http.post(
            f"{V2}/requests.json", data={**form, "jurisdiction_id": "不存在的社区"}
        )
        by_name = await http.get(f"{V2}/requests.json", params={"jurisdiction_id": "虹南社区"})
        unknown = await http.get(f"{V2}/requests.json", params={"jurisdiction_id": "nowhere"})
        services = await http.get(f"{V2}/services.xml", params={"jurisdiction_id": "nowhere"})
    assert filed.status_code == 201
    assert elsewhere.status_code == 404 and elsewhere.json()[0]["description"].startswith(
        "jurisdiction_id"
    )
    assert [r["service_request_id"] for r in by_name.json()] == [
        filed.json()[0]["service_request_id"]
    ]
    assert unknown.status_code == 404 and services.status_code == 404
    async with demo.session() as s:
        assert len((await s.execute(select(Report))).all()) == 1, "the refused POST filed nothing"


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ({"lat": "28.14"}, "lat and long"),
        ({"lat": "128.14", "long": "120.97"}, "between"),
        ({"lat": "nan", "long": "120.97"}, "numbers"),
        ({"lat": "北纬28", "long": "120.97"}, "numbers"),
        ({}, "location"),
    ],
)
async def test_lat_and_long_are_checked_and_a_bad_one_files_nothing(
    linli: Linli,
    settings: Settings,
    demo: Database,
    clock: FakeClock,
    where: dict[str, str],
    why: str,
) -> None:
    key = await _key(demo, clock)
    form = {"api_key": key, "service_code": "safety", "description": "井盖松了", **where}
    async with _client(linli, settings) as http:
        answer = await http.post(f"{V2}/requests.json", data=form)
    assert answer.status_code == 400
    assert why in answer.json()[0]["description"]
    async with demo.session() as s:
        assert (await s.execute(select(Report))).first() is None


async def test_requests_lists_the_last_90_days_unless_asked_otherwise(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    key = await _key(demo, clock)
    async with _client(linli, settings) as http:
        filed = await http.post(
            f"{V2}/requests.json",
            data={"api_key": key, "service_code": "facility", "description": "路灯不亮",
                  **AT_BUILDING_3},
        )  # fmt: skip
        request_id = filed.json()[0]["service_request_id"]
        clock.advance(days=91)
        default = (await http.get(f"{V2}/requests.json")).json()
        asked = (
            await http.get(f"{V2}/requests.json", params={"start_date": "2026-01-01T00:00:00Z"})
        ).json()
        by_number = (
            await http.get(f"{V2}/requests.json", params={"service_request_id": request_id})
        ).json()
    assert default == []
    assert [r["service_request_id"] for r in asked] == [request_id]
    assert [r["service_request_id"] for r in by_number] == [request_id]


async def test_a_media_url_is_fetched_into_the_store_like_a_chat_photo(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    await link_account(demo, "telegram", "33", "张伟")
    key = await _key(demo, clock)
    async with picture_server() as pictures, _client(linli, settings) as http:
        # The test's picture server is on this machine, which the real fetcher refuses.
        linli.media_fetchers[CHANNEL] = url_fetcher(
            settings.media_max_photo_bytes, allow_private=True
        )
        form = {"api_key": key, "service_code": "clutter", "description": "旧沙发",
                **AT_BUILDING_3}  # fmt: skip
        with_photo = await http.post(
            f"{V2}/requests.json", data={**form, "media_url": f"{pictures}/sofa.jpg"}
        )
        not_a_picture = await http.post(
            f"{V2}/requests.json", data={**form, "media_url": f"{pictures}/page.html"}
        )
        too_big = await http.post(
            f"{V2}/requests.json", data={**form, "media_url": f"{pictures}/huge.jpg"}
        )
        not_http = await http.post(
            f"{V2}/requests.json", data={**form, "media_url": "file:///etc/passwd"}
        )
    [kept] = with_photo.json()
    assert with_photo.status_code == 201 and kept["service_notice"] is None
    for refused in (not_a_picture, too_big, not_http):
        [answer] = refused.json()
        assert refused.status_code == 201, "the report is filed without its picture"
        assert "picture was not kept" in answer["service_notice"]
    async with demo.session() as s:
        photos = (await s.execute(select(ReportPhoto))).scalars().all()
        stored = (await s.execute(select(StoredMedia))).scalars().all()
    assert [(p.report_id, p.channel) for p in photos] == [
        (int(kept["service_request_id"]), "store")
    ]
    [picture] = stored
    assert picture.content_type == "image/jpeg" and picture.source.endswith("/sofa.jpg")
    data, _type = await linli.media.read(photos[0].ref)
    assert data[:2] == b"\xff\xd8", "the picture's bytes are in the media store"
    assert len(await _pushes_to(demo, "张伟")) == 4, "each report still became a task"


async def test_the_real_fetcher_refuses_this_machine_and_other_schemes() -> None:
    fetch = url_fetcher(1024)
    for url in (
        "http://127.0.0.1:9/x.jpg",
        "http://localhost/x.jpg",
        "http://10.0.0.8/x.jpg",
        "http://[::1]/x.jpg",
        "ftp://example.org/x.jpg",
        "http:///x.jpg",
    ):
        with pytest.raises(MediaRefused):
            await fetch(url)


async def test_a_multipart_media_upload_is_kept_and_a_fake_picture_is_not(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    key = await _key(demo, clock)
    form = {"api_key": key, "service_code": "hygiene", "description": "楼道很脏", **AT_BUILDING_3}
    async with _client(linli, settings) as http:
        uploaded = await http.post(
            f"{V2}/requests.json", data=form, files={"media": ("p.jpg", jpeg(3), "image/jpeg")}
        )
        fake = await http.post(
            f"{V2}/requests.json", data=form, files={"media": ("p.jpg", b"GIF89a no", "image/gif")}
        )
    assert uploaded.status_code == fake.status_code == 201
    assert uploaded.json()[0]["service_notice"] is None
    assert "not kept" in fake.json()[0]["service_notice"]
    async with demo.session() as s:
        photos = (await s.execute(select(ReportPhoto))).scalars().all()
    assert [p.report_id for p in photos] == [int(uploaded.json()[0]["service_request_id"])]


async def test_the_georeport_client_reads_the_xml_answers(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    key = await _key(demo, clock)
    async with serving(create_web_app(linli, settings)) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            filed = await http.post(
                f"{V2}/requests.xml",
                data={"api_key": key, "service_code": "facility", "description": "电梯坏了",
                      **AT_BUILDING_3},
            )  # fmt: skip
        request_id = ET.fromstring(filed.content)[0].findtext("service_request_id")
        client = GeoReport(f"{base}{V2}", jurisdiction="虹南社区", output_format="xml")
        definition = await asyncio.to_thread(client.get_service_definition, "facility")
        one = await asyncio.to_thread(client.get_service_request, request_id)
        # xmltodict reads a list of one <request> as that request.
        listed = await asyncio.to_thread(client.get_service_requests, status="open")
    assert definition["attributes"]["attribute"]["code"] == "place_detail"
    assert one["service_request_id"] == request_id and one["status"] == "open"
    assert listed["service_request_id"] == request_id
