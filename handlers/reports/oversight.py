"""Oversight of reports: a grid leader's open cases (网格事项) and the managers' ratings (居民评议)."""

from __future__ import annotations

from handlers.core import Choice, Context, Reply
from handlers.router import Outcome, Router
from handlers.ui import scope_of, with_menu
from models.charts import bar_chart
from models.people import community_zone
from models.reports import Score, case_no, open_cases, scores

router = Router()


@router.intent("cases", "cases")
async def grid_cases(ctx: Context, _arg: str) -> Outcome:
    """网格事项: a grid leader's (or manager's) open cases, oldest first."""
    scope = scope_of(ctx) if ctx.person is not None else None
    if scope is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    cases = await open_cases(ctx.session, scope)
    if not cases:
        return with_menu(ctx, ctx.t("cases.none"))
    zone = await community_zone(ctx.session, scope.community_id)
    lines = [ctx.t("cases.title", count=len(cases))]
    choices = []
    for case in cases:
        r = case.report
        assert r.id is not None
        age = ctx.now - r.created_at
        lines.append(ctx.t("cases.line", no=case_no(r.id), category=ctx.t(f"report.cat_{r.category}"),
                           place=case.place, state=ctx.t(f"report.state_{r.state}"),
                           since=r.created_at.astimezone(zone).strftime("%m-%d %H:%M"),
                           hours=int(age.total_seconds() // 3600),
                           holder=case.holder or ctx.t("cases.nobody")))  # fmt: skip
        choices.append(Choice(ctx.t("status.btn_view", no=case_no(r.id)), f"report:view:{r.id}"))
        if r.task_id is not None and r.state in ("new", "reopened", "taken"):
            choices.append(
                Choice(ctx.t("cases.btn_assign", no=case_no(r.id)), f"task:assign:{r.task_id}")
            )
    return [Reply("\n".join(lines), choices[:12])]


def ratings_chart(title: str, names: list[str], averages: list[float], counts: list[int]) -> bytes:
    """A bar chart (PNG) of average stars, names in Chinese (the CJK font of `models/charts.py`)."""
    return bar_chart(
        title,
        names,
        averages,
        notes=[f"{avg:.1f} 分（{n} 次）" for avg, n in zip(averages, counts, strict=True)],
        xmax=5.8,
    )


@router.intent("ratings", "ratings")
async def ratings(ctx: Context, _arg: str) -> Outcome:
    """居民评议: managers see per-team and per-volunteer ratings, with a chart."""
    if ctx.person is None or not ctx.has_role("manager"):
        return with_menu(ctx, ctx.t("error.forbidden"))
    teams = await scores(ctx.session, ctx.person.community_id, ctx.now, "team")
    people = await scores(ctx.session, ctx.person.community_id, ctx.now, "volunteer")
    if not people and not teams:
        return with_menu(ctx, ctx.t("ratings.none"))

    def line(s: Score) -> str:
        return ctx.t(
            "ratings.line", name=s.name, avg=f"{s.average:.1f}", count=s.count, trend=s.trend
        )

    text = "\n".join(
        [ctx.t("ratings.teams"), *map(line, teams), ctx.t("ratings.people"), *map(line, people)]
    )
    if not people:  # only the service points' teams are rated so far: no volunteer chart
        return [Reply(text), *with_menu(ctx, ctx.t("ratings.trend_hint"))]
    chart = ratings_chart(
        "居民评议：志愿者平均评分", [s.name for s in people[:12]],
        [s.average for s in people[:12]], [s.count for s in people[:12]],
    )  # fmt: skip
    return [Reply(text), Reply(ctx.t("ratings.chart"), photo=chart, photo_name="ratings.png"),
            *with_menu(ctx, ctx.t("ratings.trend_hint"))]  # fmt: skip
