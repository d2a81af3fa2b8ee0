"""Open311 GeoReport v2: plain HTTP against the real app, and the `georeport` client from PyPI
over a real local socket. A report filed by another app is a report like any other: its task
reaches the volunteers, its status follows the case, and no reporter is ever shown."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import httpx
from georeport import GeoReport
from sqlalchemy import select

from bot.app import Linli
from bot.config import Settings
from bot.web import create_web_app
from models.db import Database
from models.demo import DEMO_CENTRE
from models.open311 import issue_key
from models.people import Scope
from models.reports import Report
from models.reports.closing import close_case
from models.tables import Outbox, Person
from tests.conftest import FakeClock
from tests.desk_client import serving
from tests.wechat_chat import link_account

V2 = "/open311/v2"
# Building 3 of 虹桥南村 (乐清网格) in the demo's illustrative coordinates.
AT_BUILDING_3 = {"lat": str(DEMO_CENTRE[0] + 0.0018), "long": str(DEMO_CENTRE[1])}


async def _key(db: Database, clock: FakeClock) -> str:
    async with db.session() as s:
        return await issue_key(s, "虹南社区", "城管通", clock())


def _client(linli: Linli, settings: Settings) -> httpx.AsyncClient:
    web = create_web_app(linli, settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://linli.test")


async def _pushes_to(db: Database, name: str) -> list[Outbox]:
    async with db.session() as s:
        rows = await s.execute(
            select(Outbox).join(Person, Person.id == Outbox.person_id).where(Person.name == name)
        )
        return list(rows.scalars())


async def test_a_post_needs_a_key_and_a_known_service_code_and_errors_are_the_specs(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    key = await _key(demo, clock)
    form = {"service_code": "clutter", "description": "3幢后面堆了旧沙发", **AT_BUILDING_3}
    async with _client(linli, settings) as http:
        no_key = await http.post(f"{V2}/requests.json", data=form)
        wrong_key = await http.post(f"{V2}/requests.json", data={**form, "api_key": "nope"})
        wrong_code = await http.post(
            f"{V2}/requests.json", data={**form, "api_key": key, "service_code": "potholes"}
        )
        dispute = await http.post(
            f"{V2}/requests.json", data={**form, "api_key": key, "service_code": "dispute"}
        )
        far = await http.post(
            f"{V2}/requests.json", data={**form, "api_key": key, "lat": "31.0", "long": "121.0"}
        )
    assert no_key.status_code == wrong_key.status_code == 403
    assert no_key.json() == [{"code": 403, "description": "api_key missing or not valid"}]
    assert wrong_code.status_code == dispute.status_code == far.status_code == 400
    [error] = wrong_code.json()
    assert error["code"] == 400 and "service_code" in error["description"]
    async with demo.session() as s:
        assert (await s.execute(select(Report))).first() is None, "nothing was filed"


async def test_a_report_filed_by_another_app_reaches_a_volunteer_and_follows_the_case(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    await link_account(demo, "telegram", "33", "张伟")  # a steward of 乐清网格's team
    key = await _key(demo, clock)
    async with _client(linli, settings) as http:
        services = (await http.get(f"{V2}/services.json")).json()
        assert [s["service_code"] for s in services] == [
            "clutter", "hygiene", "safety", "facility", "other",
        ]  # fmt: skip
        assert services[0]["service_name"] == "杂物堆放" and services[0]["metadata"] is True
        xml = ET.fromstring((await http.get(f"{V2}/services.xml")).content)
        assert [s.findtext("service_code") for s in xml] == [s["service_code"] for s in services]

        filed = await http.post(
            f"{V2}/requests.json",
            data={"api_key": key, "service_code": "clutter", "description": "3幢后面堆了旧沙发",
                  "first_name": "赵", "last_name": "先生", "phone": "13911112222", **AT_BUILDING_3},
        )  # fmt: skip
        assert filed.status_code == 201
        [answer] = filed.json()
        request_id, token = answer["service_request_id"], answer["token"]
        by_token = (await http.get(f"{V2}/tokens/{token}.json")).json()
        assert by_token == [{"service_request_id": request_id, "token": token}]
        [one] = (await http.get(f"{V2}/requests/{request_id}.json")).json()
        assert one["status"] == "open" and one["service_code"] == "clutter"
        assert one["address"].startswith("虹桥南村3幢")
        body = (await http.get(f"{V2}/requests.json")).text
        for secret in ("13911112222", "先生", "城管通", "Open311 ·"):
            assert secret not in body
        assert (await http.get(f"{V2}/requests/99999.json")).status_code == 404

    pushes = await _pushes_to(demo, "张伟")
    assert [p.kind for p in pushes] == ["task"], "the task was pushed to the volunteer"

    async with demo.session() as s:
        zhu = (await s.execute(select(Person).where(Person.name == "朱凡"))).scalar_one()
        await close_case(s, int(request_id), zhu, Scope(zhu.community_id, (zhu.grid_id,)),
                         "已清理", clock())  # fmt: skip
    async with _client(linli, settings) as http:
        closed = (await http.get(f"{V2}/requests.json", params={"status": "closed"})).json()
        still_open = (await http.get(f"{V2}/requests.json", params={"status": "open"})).json()
        later = (
            await http.get(f"{V2}/requests.json", params={"start_date": "2030-01-01T00:00:00Z"})
        ).json()
        bad = await http.get(f"{V2}/requests.json", params={"start_date": "yesterday"})
    assert [r["service_request_id"] for r in closed] == [request_id] and still_open == []
    assert later == []
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400


async def test_the_georeport_client_lists_the_categories_and_reads_a_filed_report(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    await link_account(demo, "telegram", "32", "李红")
    key = await _key(demo, clock)
    async with serving(create_web_app(linli, settings)) as base:
        client = GeoReport(f"{base}{V2}", api_key=key)
        services = await asyncio.to_thread(client.get_service_list)
        assert {s["service_code"] for s in services} == {
            "clutter", "hygiene", "safety", "facility", "other",
        }  # fmt: skip
        as_xml = GeoReport(f"{base}{V2}", output_format="xml")
        listed = await asyncio.to_thread(as_xml.get_service_list)
        assert [s["service_code"] for s in listed] == [s["service_code"] for s in services]
        # georeport 0.3.1 has no call that creates a request: its POST is plain HTTP.
        async with httpx.AsyncClient(base_url=base) as http:
            filed = await http.post(
                f"{V2}/requests.json",
                data={"api_key": client.api_key or "", "service_code": services[0]["service_code"],
                      "description": "楼道灯坏了", **AT_BUILDING_3},
            )  # fmt: skip
        request_id = filed.json()[0]["service_request_id"]
        one = await asyncio.to_thread(client.get_service_request, request_id)
        assert one["service_request_id"] == request_id and one["status"] == "open"
        mine = await asyncio.to_thread(client.get_service_requests, service_code="clutter")
        assert [r["service_request_id"] for r in mine] == [request_id]
    assert [p.kind for p in await _pushes_to(demo, "李红")] == ["task"]


async def test_chinese_sent_raw_by_curl_is_read_as_utf8(
    linli: Linli, settings: Settings, demo: Database, clock: FakeClock
) -> None:
    key = await _key(demo, clock)
    raw = f"api_key={key}&service_code=facility&description=电梯坏了&lat={AT_BUILDING_3['lat']}&long={AT_BUILDING_3['long']}"
    async with _client(linli, settings) as http:
        filed = await http.post(
            f"{V2}/requests.json",
            content=raw.encode(),  # what `curl -d description=电梯坏了` sends: not percent-encoded
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        [one] = (
            await http.get(f"{V2}/requests/{filed.json()[0]['service_request_id']}.json")
        ).json()
    assert one["description"] == "电梯坏了"
