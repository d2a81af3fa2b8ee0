"""The resident register (居民底册): import from Excel (.xlsx) or CSV, export in the same format.

One row is one person. The ID number identifies them, so importing the same file twice
changes nothing the second time; every row is reported as added, updated, unchanged or
rejected (with the reason as a message key). A file that is not a register at all (a
picture renamed .xlsx, a spreadsheet without the name and ID columns) changes nothing.

`parsing` reads and checks rows (no database; `xlsx` is the reader), `matching` finds places and
people in batches, `writing` imports in chunks (`bulk`: rows handed to the driver in one call),
`report` keeps the rejected rows and makes the per-row report file, `export` writes the same
format back.
"""

from models.register.export import (
    find_by_id_number,
    record_of,
    register_rows,
    seed_demo_register,
    write_register,
)
from models.register.parsing import (
    COLUMNS,
    MAX_BYTES,
    MAX_ROWS,
    ImportReport,
    Rejected,
    RowResult,
    building_number,
    check_header,
    parse_row,
    read_register,
)
from models.register.tables import RegisterImport, RegisterUpload, ResidentRecord
from models.register.writing import CHUNK_ROWS, ImportRequest, import_register

__all__ = [
    "CHUNK_ROWS",
    "COLUMNS",
    "MAX_BYTES",
    "MAX_ROWS",
    "ImportReport",
    "ImportRequest",
    "RegisterImport",
    "RegisterUpload",
    "Rejected",
    "ResidentRecord",
    "RowResult",
    "building_number",
    "check_header",
    "find_by_id_number",
    "import_register",
    "parse_row",
    "read_register",
    "record_of",
    "register_rows",
    "seed_demo_register",
    "write_register",
]
