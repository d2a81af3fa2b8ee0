"""Distances on the earth and the boxes that let a query find what is near without loading it all."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine; within 0.5 % of the ellipsoid's)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Box:
    """A latitude/longitude rectangle that contains every point within a radius of a centre."""

    south: float
    north: float
    west: float
    east: float


def bounding_box(lat: float, lon: float, radius_m: float) -> Box:
    """The smallest lat/lon box holding the circle (an index range query, then exact distances)."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    south, north = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    if north >= 90.0 or south <= -90.0:
        return Box(south, north, -180.0, 180.0)
    # The widest longitude span of the circle is at its own latitude (not at the box's edge).
    dlon = math.degrees(
        math.asin(min(1.0, math.sin(radius_m / EARTH_RADIUS_M) / math.cos(math.radians(lat))))
    )
    return Box(south, north, lon - dlon, lon + dlon)
