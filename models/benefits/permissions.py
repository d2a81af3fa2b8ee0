"""Who may file for whom (代办), see an application, see its ID card photos, review it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from models.benefits.catalogue import Programme
from models.benefits.tables import BenefitApplication
from models.errors import DomainError
from models.tables import Person, Role


def is_manager(roles: frozenset[tuple[str, int | None]]) -> bool:
    return any(r == Role.MANAGER for r, _ in roles)


def leads_grid(roles: frozenset[tuple[str, int | None]], grid_id: int | None) -> bool:
    return grid_id is not None and (Role.GRID_LEADER.value, grid_id) in roles


def filer_role(
    actor: Person, roles: frozenset[tuple[str, int | None]], person: Person
) -> str | None:
    """How `actor` may file for `person`: self, family, grid_leader, manager; None: may not."""
    if actor.id == person.id:
        return "self"
    if actor.community_id != person.community_id:
        return None
    if leads_grid(roles, person.grid_id):
        return "grid_leader"
    if is_manager(roles):
        return "manager"
    if (
        actor.verified
        and actor.household_id is not None
        and actor.household_id == person.household_id
    ):
        return "family"
    return None


def may_review(
    programme: Programme | None,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    app: BenefitApplication,
) -> bool:
    role = programme.reviewer if programme else Role.MANAGER
    return actor.community_id == app.community_id and any(r == role for r, _ in roles)


def may_see(
    app: BenefitApplication, actor: Person, roles: frozenset[tuple[str, int | None]]
) -> bool:
    """The beneficiary, whoever filed it, the grid's leader, the community's managers."""
    if actor.id in (app.person_id, app.filed_by_id):
        return True
    if actor.community_id != app.community_id:
        return False
    return is_manager(roles) or leads_grid(roles, app.grid_id)


def may_see_sensitive(
    app: BenefitApplication, actor: Person, roles: frozenset[tuple[str, int | None]]
) -> bool:
    """ID card photos: the beneficiary, whoever filed it, and the community's managers (reviewers)."""
    if actor.id in (app.person_id, app.filed_by_id):
        return True
    return actor.community_id == app.community_id and is_manager(roles)


async def get_visible(
    session: AsyncSession, app_id: int, actor: Person, roles: frozenset[tuple[str, int | None]]
) -> BenefitApplication:
    """The application if `actor` may see it; otherwise the same answer as for none at all."""
    app = await session.get(BenefitApplication, app_id)
    if app is None or not may_see(app, actor, roles):
        raise DomainError("benefit.not_found")
    return app
