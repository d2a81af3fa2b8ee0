"""a person with a home is in her building's grid (data only)

The register's data model (models/register/matching.py): a building belongs to one grid, and a
person with a home belongs to that grid; only a person without a home has a grid of her own.
Older databases may hold people (the demo's 刘芳 did) or households whose grid differs from
their building's; this puts them right, so an export imports back unchanged. No schema change.

Revision ID: register_home_grid
Revises: 0012_teams
Create Date: 2026-12-02 16:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "register_home_grid"
down_revision: str | None = "0012_teams"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE household SET grid_id = "
        "(SELECT building.grid_id FROM building WHERE building.id = household.building_id) "
        "WHERE grid_id <> "
        "(SELECT building.grid_id FROM building WHERE building.id = household.building_id)"
    )
    op.execute(
        "UPDATE person SET grid_id = "
        "(SELECT household.grid_id FROM household WHERE household.id = person.household_id) "
        "WHERE household_id IS NOT NULL AND (grid_id IS NULL OR grid_id <> "
        "(SELECT household.grid_id FROM household WHERE household.id = person.household_id))"
    )


def downgrade() -> None:
    # Which grid a person had before cannot be known any more; nothing to undo in the schema.
    pass
