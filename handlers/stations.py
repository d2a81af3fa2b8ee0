"""The rest-station finder (小蜜蜂能量补给站): a shared location or a typed place → the nearest
stations with distance, hours, facilities, a photo and the place on a map; a facility filter;
"这里坏了" files a problem report to the station's managing team.

The finder is open to anyone who writes to the bot, joined or not (a courier passing by); the
report needs a member, as every report does.
"""

from __future__ import annotations

import re
import unicodedata

from handlers.core import Choice, Context, Done, Location, Reply, StepResult, Venue
from handlers.feature import Command, Feature, MenuItem
from handlers.intents import Keywords
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, with_menu
from models.errors import DomainError
from models.reports import case_no
from models.station_reports import report_broken_station
from models.stations import FACILITIES, FACILITY_WORDS, Nearby, by_words, facilities_in, nearest

router = Router()

# Words of a question that are not a place ("万达广场附近哪里可以充电" → "万达广场").
_NOT_PLACE = sorted(
    {w for words in FACILITY_WORDS.values() for w in words}
    | {"哪里", "哪儿", "哪有", "在哪", "附近", "可以", "能够", "能", "有没有", "有", "的", "吗", "呢",
       "补给站", "能量补给站", "驿站", "休息点", "小蜜蜂", "最近", "找", "我想", "我要", "一下",
       "手机", "地方", "where", "near", "nearest", "station", "stations", "rest", "can", "i",
       "the", "is", "a", "my", "phone", "?", "？", "，", ",", "。"},
    key=len,
    reverse=True,
)  # fmt: skip


def _place_words(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).lower()
    for word in _NOT_PLACE:
        s = s.replace(word, " ")
    return re.sub(r"\s+", "", s)


def _hours(ctx: Context, n: Nearby) -> str:
    st = n.station
    if st.open_24h:
        hours = ctx.t("stations.open_24h")
    elif st.opens is not None and st.closes is not None:
        hours = f"{st.opens:%H:%M}–{st.closes:%H:%M}"
    else:
        hours = "-"
    state = ctx.t("stations.open_now" if n.open_now else "stations.closed_now")
    return f"{hours}（{state}）" if ctx.locale == "zh" else f"{hours} ({state})"


def _distance(n: Nearby) -> str:
    return f"{n.distance_m:.0f} m" if n.distance_m < 1000 else f"{n.distance_m / 1000:.1f} km"


def _short(name: str) -> str:
    """'小蜜蜂能量补给站（万达广场3号门）' → '万达广场3号门' (a button's label)."""
    inner = re.search(r"[（(](.+?)[）)]", name)
    return (inner.group(1) if inner else name)[:16]


def _card(ctx: Context, n: Nearby, i: int) -> Reply:
    st = n.station
    facilities = "、".join(ctx.t(f"facility.{f}") for f in FACILITIES if f in st.facilities)
    lines = [
        ctx.t("stations.card", n=i, name=st.name, distance=_distance(n), hours=_hours(ctx, n)),
        ctx.t("stations.facilities", list=facilities or "-"),
    ]
    if st.phone:
        lines.append(ctx.t("stations.phone", phone=st.phone))
    if st.note:
        lines.append(st.note)
    return Reply(
        "\n".join(lines),
        [Choice(ctx.t("stations.btn_broken", name=_short(st.name)), f"st:broken:{st.id}")],
        photo_ref=st.photo_ref,
        venue=Venue(st.latitude, st.longitude, st.name, st.address),
    )


async def _results(
    ctx: Context, where: Location, wanted: list[str], *, label: str = ""
) -> list[Reply]:
    try:
        found = await nearest(
            ctx.session, where.latitude, where.longitude, ctx.now,
            facility=wanted[0] if wanted else None, limit=10,
        )  # fmt: skip
    except DomainError as err:
        return with_menu(ctx, ctx.t(err.key, **err.values))
    found = [n for n in found if all(f in n.station.facilities for f in wanted)][:3]
    names = "、".join(ctx.t(f"facility.{f}") for f in wanted)
    if not found:
        key = "stations.none_with" if wanted else "stations.none"
        return with_menu(ctx, ctx.t(key, facilities=names))
    head = ctx.t("stations.title_with", facilities=names) if wanted else ctx.t("stations.title")
    if label:
        head = ctx.t("stations.near_place", place=label) + "\n" + head
    replies = [Reply(head)]
    replies += [_card(ctx, n, i) for i, n in enumerate(found, 1)]
    lat, lon = f"{where.latitude:.5f}", f"{where.longitude:.5f}"
    filters = [
        Choice(
            ctx.t("stations.btn_only", facility=ctx.t(f"facility.{f}")), f"st:near:{lat}:{lon}:{f}"
        )
        for f in ("charger", "water", "toilet", "microwave")
        if f not in wanted
    ]
    return [
        *replies,
        *with_menu(ctx, ctx.t("stations.filter_hint")),
        Reply(ctx.t("stations.filters"), filters),
    ]


async def _by_place(ctx: Context, text: str, wanted: list[str]) -> list[Reply] | None:
    words = _place_words(text)
    if len(words) < 2:
        return None
    matches = await by_words(ctx.session, words, limit=1)
    if not matches:
        return None
    st = matches[0]
    return await _results(ctx, Location(st.latitude, st.longitude), wanted, label=words)


@router.intent("stations", "stations")
async def stations(ctx: Context, arg: str) -> Outcome:
    """补给站: by the shared location, by a place named in the text, or ask where the person is."""
    wanted = facilities_in(arg) if arg else []
    if ctx.incoming.location is not None:
        return await _results(ctx, ctx.incoming.location, wanted)
    if arg:
        found = await _by_place(ctx, arg, wanted)
        if found is not None:
            return found
    return await start_flow(ctx, router.flows["stations_where"], ",".join(wanted))


@router.flow
class Where(Flow):
    """Where are you? A shared location, or a place typed (万达广场, 绿城沁园)."""

    name = "stations_where"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data["wanted"] = [f for f in arg.split(",") if f in FACILITIES]
        return ask(ctx, "where", "stations.ask_where")

    async def step_where(self, ctx: Context, answer: Answer) -> StepResult:
        wanted = list(ctx.flow_data.get("wanted", []))
        if answer.incoming.location is not None:
            return Done(await _results(ctx, answer.incoming.location, wanted))
        wanted += [f for f in facilities_in(answer.text) if f not in wanted]
        found = await _by_place(ctx, answer.text, wanted) if answer.text else None
        if found is None:
            return ask(ctx, "where", "stations.ask_where", error="stations.place_unknown")
        return Done(found)


@router.payload("st:near", lat=str, lon=str, facility=str, refuse="stations.bad_location")
async def near_with(ctx: Context, lat: str, lon: str, facility: str) -> Outcome:
    """A filter button: the same place, only stations with that facility."""
    try:
        where = Location(float(lat), float(lon))
    except ValueError:
        return with_menu(ctx, ctx.t("stations.bad_location"))
    if facility not in FACILITIES:
        return with_menu(ctx, ctx.t("stations.bad_facility"))
    return await _results(ctx, where, [facility])


@router.payload("st:broken", station=int, refuse="stations.not_found")
async def broken(ctx: Context, station: int) -> Outcome:
    """这里坏了: what is broken (words or a photo), then a report to the station's team."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("stations.join_to_report"))
    return await start_flow(ctx, router.flows["stations_broken"], str(station))


@router.flow
class Broken(Flow):
    """One question: what is broken."""

    name = "stations_broken"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data["station"] = int(arg)
        return ask(ctx, "what", "stations.ask_broken")

    async def step_what(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        photos = [(m.channel, m.ref) for m in answer.incoming.photos]
        text = answer.text.strip() or (ctx.t("stations.broken_photo") if photos else "")
        if not text:
            return ask(ctx, "what", "stations.ask_broken")
        report, station, team = await report_broken_station(
            ctx.session, ctx.person, int(ctx.flow_data["station"]), text, photos, ctx.now
        )
        return Done(
            with_menu(
                ctx,
                ctx.t(
                    "stations.reported",
                    no=case_no(report.id or 0),
                    station=station.name,
                    team=team or "-",
                ),
            )
        )


feature = Feature(
    name="stations",
    router=router,
    menu=(MenuItem("stations", 60),),
    commands=(Command("stations", 60),),
    keywords=(
        Keywords(
            "stations",
            zh=(
                "驿站 补给站 能量补给站 休息 歇脚 歇一下 充电 饮水 喝水 热水 "
                "厕所 卫生间 洗手间 休息点 爱心驿站 小蜜蜂 外卖小哥 快递员 网约车 "
                "微波炉 热饭 打水 避暑 取暖 乘凉 充电宝 歇歇 凉快"
            ),
            en=(
                "rest station, station, rest, charge, charging, charge my phone, water, toilet, "
                "restroom, bathroom, drink, rest stop, power bank, break room"
            ),
            rank=5,
        ),
    ),
)
