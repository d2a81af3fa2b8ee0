"""The escalation ladder, climbed by the clock: reports past a rung's time in its condition go
to the rung's role.

One call climbs at most `limit` rungs, so the clock's `cases` job (scheduler/jobs.py) works a
backlog off in transactions of its own, a bounded number per tick. Communities with the same
ladder are asked together: one query per rung of each distinct ladder, whatever the number of
communities (an ordinary tick over 100 communities is a handful of statements)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.outbox import best_accounts, enqueue_many
from models.reports.filing import ACTIVE, DEFAULT_LADDER, STATE_GROUPS, case_no, event
from models.reports.tables import EscalationStep, Report, ReportFollower
from models.tables import Person
from models.tasks import Task, leader_buttons, role_holders

ESCALATE_LIMIT = 200

Rung = tuple[int, str, int, str]  # level, condition, after_minutes, role
Holders = dict[tuple[str, int, int | None], list[int]]


async def ladders(session: AsyncSession, community_ids: list[int]) -> dict[int, tuple[Rung, ...]]:
    """Each community's ladder, lowest rung first (the default for a community without one)."""
    own: dict[int, list[Rung]] = {}
    rows = (
        await session.execute(
            select(EscalationStep)
            .where(col(EscalationStep.community_id).in_(community_ids))
            .order_by(col(EscalationStep.community_id), col(EscalationStep.level))
        )
    ).scalars()
    for s in rows:
        own.setdefault(s.community_id, []).append((s.level, s.condition, s.after_minutes, s.role))
    return {c: tuple(own.get(c) or DEFAULT_LADDER) for c in community_ids}


async def escalate(session: AsyncSession, now: datetime, limit: int = ESCALATE_LIMIT) -> int:
    """Climb the ladder, at most `limit` rungs; returns how many were climbed. A report past
    several rungs climbs them one after the other in the same call, lowest first."""
    communities = list(
        (
            await session.execute(
                select(col(Report.community_id)).where(col(Report.state).in_(ACTIVE)).distinct()
            )
        ).scalars()
    )
    if not communities:
        return 0
    by_ladder: dict[tuple[Rung, ...], list[int]] = {}
    for community_id, rungs in (await ladders(session, communities)).items():
        by_ladder.setdefault(rungs, []).append(community_id)
    holders: Holders = {}
    moved = 0
    for rungs, community_ids in by_ladder.items():
        # A report's clock starts at respond_by minus the first response time (its creation,
        # or its reopening): the first 'untaken' rung.
        first = next((m for _, c, m, _ in rungs if c == "untaken"), DEFAULT_LADDER[0][2])
        for level, condition, after_minutes, role in rungs:
            if moved >= limit:
                return moved
            states = STATE_GROUPS["open"] if condition == "untaken" else ACTIVE
            due = list(
                (
                    await session.execute(
                        select(Report)
                        .where(
                            col(Report.community_id).in_(community_ids),
                            col(Report.state).in_(states),
                            col(Report.escalation_level) < level,
                            col(Report.respond_by)
                            <= now - timedelta(minutes=after_minutes - first),
                        )
                        .order_by(col(Report.id))
                        .limit(limit - moved)
                    )
                ).scalars()
            )
            if due:
                await _climb(session, due, (level, condition, after_minutes, role), now, holders)
                moved += len(due)
    return moved


async def _climb(
    session: AsyncSession, reports: list[Report], rung: Rung, now: datetime, holders: Holders
) -> None:
    """These reports climb to `rung`: its role hears of each, and so do the report's followers,
    in a few statements for all of them (their tasks, followers, addresses and locales in one
    query each, the outbox rows in one INSERT)."""
    level, condition, after_minutes, role = rung
    ids = [r.id for r in reports if r.id is not None]
    task_ids = [r.task_id for r in reports if r.task_id is not None]
    tasks = {
        t.id: t
        for t in (
            (await session.execute(select(Task).where(col(Task.id).in_(task_ids)))).scalars()
            if task_ids
            else []
        )
    }
    following: dict[int, list[int]] = {}
    for report_id, person_id in await session.execute(
        select(col(ReportFollower.report_id), col(ReportFollower.person_id))
        .where(col(ReportFollower.report_id).in_(ids))
        .order_by(col(ReportFollower.report_id), col(ReportFollower.joined_at))
    ):
        following.setdefault(report_id, []).append(person_id)
    for report in reports:
        key = _key(report, role)
        if key not in holders:
            holders[key] = await role_holders(session, *key)
    people = sorted(
        {p for r in reports for p in holders[_key(r, role)]}
        | {p for ps in following.values() for p in ps}
    )
    addresses = await best_accounts(session, people)
    locales: dict[int, str | None] = {}
    if people:
        query = select(col(Person.id), col(Person.locale)).where(col(Person.id).in_(people))
        locales = {pid: locale for pid, locale in await session.execute(query)}
    at = int(now.timestamp())
    rows: list[dict[str, Any]] = []

    def row(
        person_id: int, dedupe_key: str, text_key: str, values: dict[str, Any], choices: Any
    ) -> None:
        address = addresses.get(person_id)
        if address is None:
            return
        rows.append({
            "dedupe_key": dedupe_key, "channel": address.channel, "chat_id": address.chat_id,
            "account_id": address.account_id, "person_id": person_id, "kind": "report",
            "locale": locales.get(person_id) or address.locale or "zh", "text_key": text_key,
            "values": values, "choices": choices, "priority": 2,
        })  # fmt: skip

    for report in reports:
        assert report.id is not None
        report.escalation_level = level
        event(session, report, "escalated", now, None, note=f"{level}:{role}")
        task = tasks.get(report.task_id) if report.task_id is not None else None
        no = case_no(report.id)
        values = {"no": no, "title": task.title if task else "", "hours": round(after_minutes / 60)}
        choices = leader_buttons(task.id) if task else []
        for target in holders[_key(report, role)]:
            row(target, f"report:{report.id}:escalated:{level}:{target}",
                f"escalate.{condition}", values, choices)  # fmt: skip
        told = f"escalate.resident_{role}"
        for person_id in following.get(report.id, []):
            row(person_id, f"report:{report.id}:{told}:{person_id}:{at}", told, {"no": no}, [])
    await enqueue_many(session, rows, now)


def _key(report: Report, role: str) -> tuple[str, int, int | None]:
    return (role, report.community_id, report.grid_id if role == "grid_leader" else None)
