"""`linli import residents`: the per-row report, and the whole list of rejected rows as a file.

A street's register can have hundreds of rejected rows. The terminal gets the same report as the
chat (the first rows and how many more); when the list is longer than the chat lists, every
rejected row goes into an .xlsx next to the imported file, the same workbook the chat sends
(`models.register.report.report_xlsx`: row, name, masked ID, column, reason), and its path is
printed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.register import ImportReport
from models.register.report import LISTED_IN_CHAT, report_xlsx

Translate = Callable[..., str]


def report_path(source: Path, import_id: int, t: Translate) -> Path:
    """Where the list goes: beside the register, named as the chat names it (未导入的行-7.xlsx)."""
    return source.resolve().parent / t("roster.rows_file_name", id=import_id)


def cli_report(
    t: Translate,
    report: ImportReport,
    source: Path,
    import_id: int | None,
    render: Callable[..., str],
) -> str:
    """The text to print; writes the report file first when the list is long."""
    rejected = report.rejected
    if import_id is None or len(rejected) <= LISTED_IN_CHAT:
        return render(t, report, source.name)
    path = report_path(source, import_id, t)
    path.write_bytes(report_xlsx(t, rejected))
    text = render(t, report, source.name, listed=LISTED_IN_CHAT)
    return f"{text}\n{t('roster.rows_written', path=str(path))}"
