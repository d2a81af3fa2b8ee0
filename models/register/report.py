"""The per-row report of an import as a file: row number, column, reason (an .xlsx).

A street's register can have thousands of rejected rows; a chat message lists the first few, and
the rest are kept with the import's audit row (`RegisterImport.rejections`: line, name, masked
ID, reason key, values; never a raw ID) so that the manager can ask for the whole list as a
spreadsheet later. Texts are rendered by the caller's translate function (the manager's language).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.errors import DomainError
from models.register.parsing import COLUMNS, ImportReport, RowResult
from models.register.tables import RegisterImport
from models.register.xlsx import xlsx_bytes

Translate = Callable[..., str]
# More rejected rows than this: the chat message lists these and offers the rest as a file.
LISTED_IN_CHAT = 20
_HEADER = {name: zh for name, zh, _ in COLUMNS}
_ADDRESS = "/".join(_HEADER[c] for c in ("estate", "building", "unit", "room"))
# Which column of the file a reason is about (the file's own header, whatever the language).
REASON_COLUMN: dict[str, str] = {
    "roster.no_name": _HEADER["name"],
    "roster.bad_name": _HEADER["name"],
    "roster.no_id": _HEADER["id_number"],
    "roster.id_as_number": _HEADER["id_number"],
    "roster.duplicate": _HEADER["id_number"],
    "roster.bad_phone": _HEADER["phone"],
    "roster.incomplete_address": _ADDRESS,
    "roster.bad_address": _ADDRESS,
    "roster.unknown_building": _ADDRESS,
    "roster.no_place": f"{_ADDRESS}/{_HEADER['grid']}",
    "roster.unknown_grid": _HEADER["grid"],
    "roster.other_grid": _HEADER["grid"],
    "roster.home_in_other_grid": _HEADER["grid"],
}


def column_of(reason: str | None, values: dict[str, Any]) -> str:
    """The column a rejection is about ('身份证号'), '' when it is the row as a whole."""
    if reason is None:
        return ""
    if reason.startswith("idcard."):
        return _HEADER["id_number"]
    if reason == "roster.bad_yes_no":
        return str(values.get("column", ""))
    return REASON_COLUMN.get(reason, "")


def rejections_of(report: ImportReport) -> list[list[Any]]:
    """The rejected rows as kept with the audit row: [line, name, masked ID, reason, values]."""
    return [[r.line, r.name, r.masked_id, r.reason, r.values] for r in report.rejected]


def _row(kept: list[Any]) -> RowResult:
    line, name, masked, reason, values = kept
    return RowResult(int(line), "rejected", str(name or ""), masked, reason, dict(values or {}))


async def rejected_rows(
    session: AsyncSession, import_id: int, community_id: int
) -> tuple[RegisterImport, list[RowResult]]:
    """An import of this community and its rejected rows; DomainError('roster.no_such_import')."""
    audit = await session.get(RegisterImport, import_id)
    if audit is None or audit.community_id != community_id:
        raise DomainError("roster.no_such_import")
    return audit, [_row(kept) for kept in audit.rejections]


def report_xlsx(t: Translate, rows: list[RowResult]) -> bytes:
    """The rejected rows as a workbook: 行号, 姓名, 身份证号 (masked), 栏目, 原因."""
    header = [t("roster.col_line"), t("roster.col_name"), t("roster.col_id"),
              t("roster.col_column"), t("roster.col_reason")]  # fmt: skip
    lines = [header]
    for r in rows:
        reason = t(r.reason or "roster.bad_row", **r.values)
        column = column_of(r.reason, r.values)
        lines.append([str(r.line), r.name, r.masked_id or "", column, reason])
    return xlsx_bytes(lines, sheet_name=t("roster.report_sheet"), text_column=None)


def grouped(t: Translate, rows: list[RowResult], *, max_lines: int = 12) -> list[str]:
    """One line per reason, most frequent first: the reason, how many rows, the first rows."""
    by_reason: dict[str, list[RowResult]] = {}
    for r in rows:
        by_reason.setdefault(r.reason or "roster.bad_row", []).append(r)
    out = []
    for key, group in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[1][0].line)):
        # Values differ between rows (the grid's name): the first row's stand for the group.
        numbers = "、".join(str(r.line) for r in group[:max_lines])
        if len(group) > max_lines:
            numbers += "…"
        out.append(
            t("roster.rows_group", reason=t(key, **group[0].values), count=len(group),
              lines=numbers)
        )  # fmt: skip
    return out
