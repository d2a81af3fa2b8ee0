"""The dashboard: open cases by grid and age, ladder breaches, applications waiting, this week's
bookings and events, the last notices' delivery, volunteer hours this month."""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.charts import Bar, simple_bars, stacked_bars
from bot.console_web.desk import Desk
from models.console_views import AGE_BUCKETS, dashboard


def routes(desk: Desk) -> list[Route]:
    async def show(request: Request) -> Response:
        async with desk.signed(request) as s:
            data = await dashboard(s.session, s.viewer, desk.now())
            legend = [s.t(f"web.age_{name}") for name, _ in AGE_BUCKETS]
            bars = [
                Bar(data.grids.get(gid, "?"), tuple(counts[name] for name, _ in AGE_BUCKETS))
                for gid, counts in sorted(data.open_by_grid.items())
            ]
            cases_chart = Markup(stacked_bars(bars, legend, s.t("web.chart_open_cases")))
            hours = [
                (data.grids.get(gid, "?"), minutes // 60)
                for gid, minutes in sorted(data.hours_by_grid.items())
            ]
            hours_chart = Markup(simple_bars(hours, s.t("web.chart_hours"), s.t("web.hours_unit")))
            events = [(e, s.local(slot.starts_at), slot) for e, slot in data.events]
            return s.render(
                "dashboard.html",
                data=data,
                cases_chart=cases_chart,
                hours_chart=hours_chart,
                open_total=sum(sum(c.values()) for c in data.open_by_grid.values()),
                events=events,
            )

    return [Route("/", show, methods=["GET"])]
