"""Applications: the review queue and one application, decided with the chat's use cases
(`start_review`, `decide`): approve, reject with a reason, ask for more."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.desk import Desk, NotFound, int_or_none, see_other
from models.benefits import (
    BenefitApplication,
    community_today,
    decide,
    documents_of,
    get_visible,
    history,
    may_review,
    review_queue,
    start_review,
)
from models.errors import DomainError
from models.people import person_address
from models.register import record_of
from models.tables import Person


def _age(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def routes(desk: Desk) -> list[Route]:
    programmes = desk.linli.programmes

    async def queue(request: Request) -> Response:
        async with desk.signed(request) as s:
            try:
                waiting = await review_queue(s.session, programmes, s.viewer.person, s.viewer.roles)
            except DomainError:
                waiting = None  # this viewer reviews nothing
            names = {}
            for app in waiting or []:
                person = await s.session.get(Person, app.person_id)
                names[app.id] = person.name if person else "?"
            return s.render(
                "applications.html", waiting=waiting, names=names, programmes=programmes
            )

    async def detail(request: Request) -> Response:
        app_id = int_or_none(request.path_params["id"])
        async with desk.signed(request) as s:
            try:
                app = await get_visible(s.session, app_id or 0, s.viewer.person, s.viewer.roles)
            except DomainError as err:
                raise NotFound() from err
            programme = programmes.get(app.programme)
            person = await s.session.get(Person, app.person_id)
            filer = await s.session.get(Person, app.filed_by_id)
            assert person is not None and person.id is not None and app.id is not None
            record = await record_of(s.session, person.id)
            today = await community_today(s.session, app.community_id, desk.now())
            events = []
            for e in await history(s.session, app.id):
                actor = await s.session.get(Person, e.actor_id) if e.actor_id else None
                events.append((e, actor.name if actor else None))
            return s.render(
                "application.html",
                app=app,
                programme=programme,
                person=person,
                filer=filer,
                masked_id=record.id_masked if record is not None else None,
                age=_age(app.birth_date, today),
                address=await person_address(s.session, person),
                documents=len(await documents_of(s.session, app.id)),
                events=events,
                may_decide=may_review(programme, s.viewer.person, s.viewer.roles, app)
                and app.status in ("submitted", "under_review"),
                done=request.query_params.get("done"),
            )

    async def decision(request: Request) -> Response:
        app_id = int_or_none(request.path_params["id"]) or 0
        back = f"/console/applications/{app_id}"
        try:
            async with desk.signed(request, post=True) as s:
                what = s.field("decision", 16)
                now = desk.now()
                await start_review(
                    s.session, programmes, app_id, s.viewer.person, s.viewer.roles, now
                )
                app: BenefitApplication = await decide(
                    s.session, programmes, app_id, s.viewer.person, s.viewer.roles, what, now,
                    s.field("reason"),
                )  # fmt: skip
        except DomainError as err:
            return desk.refused(request, err, back)
        desk.committed()
        return see_other(f"{back}?done={app.status}")

    return [
        Route("/applications", queue, methods=["GET"]),
        Route("/applications/{id}", detail, methods=["GET"]),
        Route("/applications/{id}/decide", decision, methods=["POST"]),
    ]
