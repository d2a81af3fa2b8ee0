"""The rest-station finder: nearest first by great-circle distance, through an indexed box."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import insert, text

from models.db import Database
from models.errors import DomainError
from models.geo import bounding_box, distance_m
from models.stations import (
    RestStation,
    facilities_in,
    is_open,
    nearest,
    parse_hours,
    upsert_station,
)
from tests.conftest import FakeClock

# 虹桥街道, Nantong (illustrative)
LAT, LON = 32.0117, 120.8646


def test_distances_and_boxes() -> None:
    # One degree of latitude is about 111.2 km everywhere.
    assert distance_m(32.0, 120.0, 33.0, 120.0) == pytest.approx(111_195, rel=1e-3)
    # Every point on the circle lies inside its box.
    box = bounding_box(LAT, LON, 5_000)
    rng = random.Random(7)
    for _ in range(500):
        lat = rng.uniform(box.south - 0.1, box.north + 0.1)
        lon = rng.uniform(box.west - 0.1, box.east + 0.1)
        if distance_m(LAT, LON, lat, lon) <= 5_000:
            assert box.south <= lat <= box.north and box.west <= lon <= box.east


def test_facilities_from_words_and_hours() -> None:
    assert facilities_in("哪里可以喝水充电") == ["water", "charger"]
    assert facilities_in("where can I charge my phone") == ["charger"]
    assert parse_hours("24小时") == (True, None, None)
    assert parse_hours("8:00-22:00") == (False, time(8), time(22))
    with pytest.raises(DomainError):
        parse_hours("早上到晚上")
    night = RestStation(
        key="n",
        name="夜间",
        address="x",
        latitude=LAT,
        longitude=LON,
        opens=time(22),
        closes=time(6),
    )
    assert is_open(night, datetime(2026, 3, 7, 15, 0, tzinfo=UTC))  # 23:00 local
    assert not is_open(night, datetime(2026, 3, 7, 4, 0, tzinfo=UTC))  # 12:00 local


async def test_nearest_matches_a_full_scan_over_thousands_of_stations(
    db: Database, clock: FakeClock
) -> None:
    rng = random.Random(42)
    rows = []
    for i in range(3_000):
        rows.append(
            {
                "key": f"s{i}",
                "name": f"站{i}",
                "address": "路",
                "latitude": LAT + rng.uniform(-0.5, 0.5),
                "longitude": LON + rng.uniform(-0.5, 0.5),
                "open_24h": i % 2 == 0,
                "facilities": ["water", "charger"] if i % 3 == 0 else ["water"],
                "timezone": "Asia/Shanghai",
                "active": True,
                "created_at": clock(),
            }
        )
    async with db.session() as s:
        await s.execute(insert(RestStation), rows)
    for _ in range(5):
        lat, lon = LAT + rng.uniform(-0.3, 0.3), LON + rng.uniform(-0.3, 0.3)
        for facility in (None, "charger"):
            async with db.session() as s:
                found = await nearest(s, lat, lon, clock(), facility=facility, limit=3)
            pool = [r for r in rows if facility is None or facility in r["facilities"]]
            expected = sorted(
                pool, key=lambda r: distance_m(lat, lon, r["latitude"], r["longitude"])
            )[:3]
            assert [n.station.key for n in found] == [r["key"] for r in expected]
            assert [round(n.distance_m) for n in found] == sorted(
                round(n.distance_m) for n in found
            )


async def test_the_box_query_uses_the_index(db: Database) -> None:
    box = bounding_box(LAT, LON, 1_000)
    where = (
        f"latitude BETWEEN {box.south} AND {box.north} "
        f"AND longitude BETWEEN {box.west} AND {box.east}"
    )
    async with db.session() as s:
        if db.is_sqlite:
            plan = (
                await s.execute(text(f"EXPLAIN QUERY PLAN SELECT * FROM reststation WHERE {where}"))
            ).all()
            assert "ix_reststation_lat_lon" in " ".join(str(row[-1]) for row in plan)
        else:
            await s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = (await s.execute(text(f"EXPLAIN SELECT * FROM reststation WHERE {where}"))).all()
            assert "ix_reststation_lat_lon" in " ".join(row[0] for row in plan)


async def test_stations_are_upserted_by_key_and_facilities_checked(db: Database) -> None:
    fields = {
        "key": "wanda-3",
        "name": "万达广场3号门",
        "address": "万达广场3号门",
        "latitude": LAT,
        "longitude": LON,
        "open_24h": True,
        "facilities": ["water", "charger"],
    }
    async with db.session() as s:
        _, new = await upsert_station(s, **fields)
        assert new
        again, new = await upsert_station(s, **{**fields, "facilities": ["water"]})
        assert not new and again.facilities == ["water"]
        with pytest.raises(DomainError):
            await upsert_station(s, **{**fields, "key": "x", "facilities": ["jacuzzi"]})
        with pytest.raises(DomainError):
            await nearest(s, 123.0, LON, datetime(2026, 3, 7, tzinfo=UTC))
