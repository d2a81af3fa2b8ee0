"""check-in codes unique where they can be typed; a report keeps the team its place names

A slot's door code and a sign-up's own code are unique within their scope (`code_scope`: the
same service point or event on the same local day), by a unique index, so a code typed at the
station finds one session and one person. Rows made before this revision have no scope.
`report.team_id` is the team a report's place names (a rest station's managing team): a report
reopened after a low rating goes back to that team, not to the category's.

Revision ID: 0015_h11g_codes_and_routes
Revises: 0014_register_rejections
Create Date: 2026-12-03 13:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_h11g_codes_and_routes"
down_revision: str | None = "0014_register_rejections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("slot", "signup"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("code_scope", sa.String(length=48), nullable=True))
        op.create_index(f"ux_{table}_code_scope", table, ["code_scope", "code"], unique=True)
    with op.batch_alter_table("report") as batch:
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_report_team_id_team", "team", ["team_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("report") as batch:
        batch.drop_constraint("fk_report_team_id_team", type_="foreignkey")
        batch.drop_column("team_id")
    for table in ("signup", "slot"):
        op.drop_index(f"ux_{table}_code_scope", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("code_scope")
