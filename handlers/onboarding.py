"""Joining: invitation codes (deep link or typed), self-registration, confirmation by the grid leader."""

from __future__ import annotations

from handlers.core import Choice, Context, Done, Reply, StepResult
from handlers.feature import Audience, Command, Feature, MenuItem
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.teams import offer_team_choice
from handlers.ui import ask, main_menu, with_menu
from models.errors import DomainError
from models.onboarding import (
    Joined,
    buildings_of,
    clean_name,
    clean_phone,
    clean_room_part,
    estates,
    pending_residents,
    redeem_invitation,
    register_self,
    verify_resident,
)
from models.people import active_roles, person_address
from models.tables import Building

router = Router()


async def _joined(ctx: Context, joined: Joined) -> StepResult:
    person, role = joined.person, joined.role
    ctx.person = person
    ctx.locale = person.locale or ctx.locale
    ctx.roles = await active_roles(ctx.session, person)
    key = "join.welcome" if role == "resident" else "join.welcome_role"
    text = ctx.t(key, name=person.name, role=ctx.t(f"role.{role}"))
    if joined.team is not None:
        text += "\n" + ctx.t("team.joined_by_invitation", team=joined.team.name)
    elif role == "volunteer":
        # A volunteer without a team would receive no task: ask which team, right now.
        asked = await offer_team_choice(ctx, text)
        if asked is not None:
            return asked
    return Done(with_menu(ctx, text))


async def join_with_code(ctx: Context, code: str) -> Outcome:
    """Redeem an invitation code, asking for a name when the code creates a new person."""
    return await start_flow(ctx, router.flows["join"], code)


@router.flow
class JoinFlow(Flow):
    """Invitation: link to the named person, or ask the name and create one in the grid."""

    name = "join"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        try:
            joined = await redeem_invitation(ctx.session, ctx.account, arg, ctx.now)
        except DomainError as err:
            if err.key != "invite.needs_name":
                return Done(with_menu(ctx, ctx.t(err.key)))
            ctx.flow_data["code"] = arg.strip().upper()
            return ask(ctx, "name", "join.ask_name", cancel=False)
        return await _joined(ctx, joined)

    async def step_name(self, ctx: Context, answer: Answer) -> StepResult:
        try:
            joined = await redeem_invitation(
                ctx.session, ctx.account, ctx.flow_data["code"], ctx.now, name=answer.text
            )
        except DomainError as err:
            if err.key == "register.bad_name":
                return ask(ctx, "name", "join.ask_name", error=err, cancel=False)
            return Done(with_menu(ctx, ctx.t(err.key)))
        return await _joined(ctx, joined)


@router.intent("join", "join")
async def join(ctx: Context, arg: str) -> Outcome:
    """'/join CODE'."""
    if not arg.strip():
        return with_menu(ctx, ctx.t("join.how"))
    return await join_with_code(ctx, arg)


@router.intent("register", "register")
async def register(ctx: Context, _arg: str) -> Outcome:
    """Self-registration (name, phone, address), confirmed later by the grid leader."""
    if ctx.person is not None:
        return with_menu(ctx, ctx.t("register.already"))
    return await start_flow(ctx, router.flows["register"])


@router.flow
class RegisterFlow(Flow):
    """name → phone → estate → building → unit → room → confirm."""

    name = "register"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        return ask(ctx, "name", "register.ask_name", cancel=False)

    async def step_name(self, ctx: Context, answer: Answer) -> StepResult:
        try:
            ctx.flow_data["name"] = clean_name(answer.text)
        except DomainError as err:
            return ask(ctx, "name", "register.ask_name", error=err, cancel=False)
        return ask(ctx, "phone", "register.ask_phone", cancel=False, name=ctx.flow_data["name"])

    async def step_phone(self, ctx: Context, answer: Answer) -> StepResult:
        try:
            ctx.flow_data["phone"] = clean_phone(answer.text)
        except DomainError as err:
            return ask(ctx, "phone", "register.ask_phone_again", error=err, cancel=False)
        return await self._ask_estate(ctx)

    async def _ask_estate(self, ctx: Context, error: str | None = None) -> StepResult:
        names = await estates(ctx.session)
        choices = [Choice(n, f"estate:{i}") for i, n in enumerate(names)]
        ctx.flow_data["estates"] = names
        return ask(ctx, "estate", "register.ask_estate", choices, error=error)

    async def step_estate(self, ctx: Context, answer: Answer) -> StepResult:
        names: list[str] = ctx.flow_data.get("estates", [])
        idx = _index(answer.payload, "estate", len(names))
        if idx is None:
            return await self._ask_estate(ctx, "register.pick_one")
        ctx.flow_data["estate"] = names[idx]
        return await self._ask_building(ctx)

    async def _ask_building(self, ctx: Context, error: str | None = None) -> StepResult:
        buildings = await buildings_of(ctx.session, ctx.flow_data["estate"])
        choices = [
            Choice(ctx.t("register.building_label", number=b.number), f"bldg:{b.id}")
            for b in buildings
        ]
        estate = ctx.flow_data["estate"]
        return ask(ctx, "building", "register.ask_building", choices, error=error, estate=estate)

    async def step_building(self, ctx: Context, answer: Answer) -> StepResult:
        building_id = _number_after(answer.payload, "bldg")
        building = await ctx.session.get(Building, building_id) if building_id is not None else None
        if building is None or building.estate != ctx.flow_data.get("estate"):
            return await self._ask_building(ctx, "register.pick_one")
        ctx.flow_data["building_id"] = building.id
        ctx.flow_data["building"] = building.number
        return ask(ctx, "unit", "register.ask_unit", cancel=False)

    async def step_unit(self, ctx: Context, answer: Answer) -> StepResult:
        try:
            ctx.flow_data["unit"] = clean_room_part(answer.text)
        except DomainError as err:
            return ask(ctx, "unit", "register.ask_unit", error=err, cancel=False)
        return ask(ctx, "room", "register.ask_room", cancel=False)

    async def step_room(self, ctx: Context, answer: Answer) -> StepResult:
        try:
            ctx.flow_data["room"] = clean_room_part(answer.text)
        except DomainError as err:
            return ask(ctx, "room", "register.ask_room", error=err, cancel=False)
        return self._ask_confirm(ctx)

    def _ask_confirm(self, ctx: Context) -> StepResult:
        d = ctx.flow_data
        choices = [Choice(ctx.t("btn.confirm"), "reg:yes"), Choice(ctx.t("btn.redo"), "reg:redo")]
        address = f"{d['estate']}{d['building']}幢{d['unit']}单元{d['room']}"
        return ask(ctx, "confirm", "register.summary", choices, name=d["name"], phone=d["phone"],
                   address=address)  # fmt: skip

    async def step_confirm(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload == "reg:redo":
            ctx.flow_data = {}
            return await self.start(ctx, "")
        if answer.payload != "reg:yes":
            return self._ask_confirm(ctx)
        d = ctx.flow_data
        person = await register_self(
            ctx.session,
            ctx.account,
            name=d["name"],
            phone=d["phone"],
            building_id=d["building_id"],
            unit=d["unit"],
            room=d["room"],
            now=ctx.now,
        )
        ctx.person = person
        return Done(with_menu(ctx, ctx.t("register.done", name=person.name)))


def _index(payload: str | None, prefix: str, size: int) -> int | None:
    n = _number_after(payload, prefix)
    return n if n is not None and 0 <= n < size else None


def _number_after(payload: str | None, prefix: str) -> int | None:
    if not payload or not payload.startswith(prefix + ":"):
        return None
    rest = payload[len(prefix) + 1 :]
    return int(rest) if rest.isdigit() and len(rest) <= 9 else None


@router.intent("pending", "pending")
async def pending(ctx: Context, _arg: str) -> Outcome:
    """Self-registered residents waiting for this grid leader's one-tap confirmation."""
    if ctx.person is None or not ctx.is_staff:
        return with_menu(ctx, ctx.t("error.forbidden"))
    people = await pending_residents(ctx.session, ctx.roles, ctx.person.community_id)
    if not people:
        return with_menu(ctx, ctx.t("pending.none"))
    replies = [Reply(ctx.t("pending.header", count=len(people)))]
    for p in people[:20]:
        address = await person_address(ctx.session, p) or "-"
        replies.append(
            Reply(
                ctx.t("pending.item", name=p.name, phone=p.phone or "-", address=address),
                [Choice(ctx.t("btn.verify", name=p.name), f"verify:{p.id}")],
            )
        )
    replies[-1].menu = main_menu(ctx)
    return replies


@router.payload("verify", person=int, refuse="error.forbidden")
async def verify(ctx: Context, person: int) -> Outcome:
    """The grid leader's one tap; the payload is untrusted, so the use case re-checks the role."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    resident, changed = await verify_resident(ctx.session, ctx.person, ctx.roles, person, ctx.now)
    key = "verify.done" if changed else "verify.already"
    return with_menu(ctx, ctx.t(key, name=resident.name))


feature = Feature(
    name="onboarding",
    router=router,
    menu=(
        MenuItem("register", 5, Audience.GUEST),
        MenuItem("pending", 230, Audience.STAFF),
    ),
    commands=(Command("register", 80),),
)
