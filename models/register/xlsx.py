"""A streaming reader of the first worksheet of an .xlsx file: cell values by row, nothing else.

openpyxl's read-only mode spends about 0.3 ms a row on a register's twelve cells (it builds a
cell object per cell and first parses the whole sheet once to size it), which alone is half a
minute for 100,000 rows here. This reader decompresses the sheet's XML in 64 KiB pieces and
matches its complete rows with regular expressions (C code; expat is used only for the small
workbook, relationship and shared-string parts), keeping only the values, so memory stays flat
and the cost is about 24 µs a row of twelve cells. Values: str for text (shared, inline or formula
strings), bool, int or float for numbers (styles are not read, so a date is its serial number,
as with any number), None for an empty cell.

`xlsx_bytes` writes a workbook of text cells the same way round: the parts a spreadsheet needs
(content types, relationships, workbook, one style for text, the sheet of inline strings),
joined as strings and zipped; openpyxl's writer costs ~2 ms a row, a quarter of an hour for a
district's register.
"""

from __future__ import annotations

import codecs
import io
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any
from xml.parsers import expat

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
PIECE = 64 * 1024
_INT = re.compile(r"-?\d+")


class NotAWorkbook(Exception):
    """The bytes are no readable .xlsx workbook."""


def _column(ref: str) -> int:
    """'A1' → 0, 'AB7' → 27."""
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n - 1


def _number(text: str) -> int | float:
    text = text.strip()
    if _INT.fullmatch(text):
        return int(text)
    return float(text)


def _parser() -> Any:
    # namespace_separator: element names arrive as "namespace local" whatever the prefix.
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    return parser


def _first_sheet(book: zipfile.ZipFile) -> str:
    names = set(book.namelist())
    try:
        workbook = book.read("xl/workbook.xml")
        rels = book.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        raise NotAWorkbook from None
    first: list[str] = []
    targets: dict[str, str] = {}

    def on_sheet(name: str, attrs: dict[str, str]) -> None:
        if name == f"{MAIN} sheet" and not first:
            first.append(attrs.get(f"{REL} id", ""))

    def on_rel(name: str, attrs: dict[str, str]) -> None:
        if name == f"{PKG_REL} Relationship":
            targets[attrs.get("Id", "")] = attrs.get("Target", "")

    for data, handler in ((workbook, on_sheet), (rels, on_rel)):
        parser = _parser()
        parser.StartElementHandler = handler
        try:
            parser.Parse(data, True)
        except expat.ExpatError:
            raise NotAWorkbook from None
    target = targets.get(first[0], "") if first else ""
    path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
    if path not in names:
        raise NotAWorkbook
    return path


def _shared_strings(book: zipfile.ZipFile) -> list[str]:
    try:
        data = book.open("xl/sharedStrings.xml")
    except KeyError:
        return []
    strings: list[str] = []
    parts: list[str] = []
    state = {"in_t": False, "phonetic": 0}

    def start(name: str, _attrs: dict[str, str]) -> None:
        if name == f"{MAIN} t":
            state["in_t"] = True
        elif name == f"{MAIN} rPh":  # a phonetic guide, not part of the text
            state["phonetic"] += 1

    def end(name: str) -> None:
        if name == f"{MAIN} t":
            state["in_t"] = False
        elif name == f"{MAIN} rPh":
            state["phonetic"] -= 1
        elif name == f"{MAIN} si":
            strings.append("".join(parts))
            parts.clear()

    def text(chunk: str) -> None:
        if state["in_t"] and not state["phonetic"]:
            parts.append(chunk)

    parser = _parser()
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = text
    try:
        parser.ParseFile(data)
    except expat.ExpatError:
        raise NotAWorkbook from None
    return strings


# One pass over a piece of the sheet: a row's start tag, or a whole cell.
_TOKEN = re.compile(
    r"<(?:\w+:)?row\b([^>]*)>|<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S
)
_ATTR = re.compile(r'\b([rt])="([^"]*)"')
_TEXT = re.compile(r"<(?:\w+:)?[vt](?:\s[^>]*)?>([^<]*)<")
_PHONETIC = re.compile(r"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_ROW_END = re.compile(r"</(?:\w+:)?row>")
_DIGITS = re.compile(r"\d+")


def _entity(m: re.Match[str]) -> str:
    name = m.group(1)
    if name[0] == "#":
        return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))
    return _NAMED[name]


def _unescape(text: str) -> str:
    return _ENTITY.sub(_entity, text) if "&" in text else text


def _after_last_row(text: str) -> int:
    """Where the last complete `</row>` of the text ends; -1 when there is none."""
    i = text.rfind("row>")
    while i >= 0:
        j = text.rfind("</", 0, i)
        if j >= 0 and _ROW_END.fullmatch(text, j, i + 4):
            return i + 4
        i = text.rfind("row>", 0, i)
    return -1


# Each expression has a fast form first, for the way spreadsheets write rows and cells (Excel,
# WPS, LibreOffice, openpyxl: `<row r="3" …>`, `<c r="B3" s="1" t="s"><v>7</v></c>`, inline
# strings `<is><t>…</t></is>`), whose groups are the row number, the column, the type and the
# value, captured in C; then a general form (namespace prefixes, other attributes, formulas,
# rich text, phonetic guides) that gives the raw attributes and inner XML to `_cell`.
_P = r"(?:\w+:)?"
_ROW = re.compile(
    r'<row r="(\d+)"[^>/]*>(.*?)</row>' rf"|<{_P}row\b([^>]*?)(?:/>|>(.*?)</{_P}row>)", re.S
)
_CELL = re.compile(
    r'<c r="([A-Z]{1,3})\d+"(?: s="\d+")?(?: t="(\w+)")?(?: s="\d+")?>'
    r'(?:<v>([^<]*)</v>|<is><t(?: xml:space="preserve")?>([^<]*)</t></is>)</c>'
    rf"|<{_P}c(?=[\s/>])([^>]*?)(?:/>|>(.*?)</{_P}c>)",
    re.S,
)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_COLUMNS = {a + b: _column(a + b) for a in ("", *_LETTERS) for b in _LETTERS}  # A … ZZ


def xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    """(row number, values) of the first worksheet, streaming; NotAWorkbook if it is none.

    The sheet's XML is decompressed in pieces; the complete rows of each piece are matched by
    two regular expressions (C code) and only the values are kept. The worksheet part is
    machine-written (Excel, WPS, LibreOffice, openpyxl): no comments or CDATA inside
    `sheetData`; tags may carry a namespace prefix; text is XML-unescaped.
    """
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        sheet_name = _first_sheet(book)
        shared = _shared_strings(book)
        stream = book.open(sheet_name)
    except (zipfile.BadZipFile, KeyError, EOFError, ValueError, NotImplementedError):
        raise NotAWorkbook from None
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = ""
    number = 0
    with stream:
        while True:
            try:
                piece = stream.read(PIECE)
                pending += decoder.decode(piece, not piece)
            except (zipfile.BadZipFile, EOFError, ValueError, UnicodeDecodeError):
                raise NotAWorkbook from None
            if piece:
                cut = _after_last_row(pending)
                if cut < 0:  # no row ends in this piece yet
                    continue
                complete, pending = pending[:cut], pending[cut:]
            else:
                complete, pending = pending, ""
            for given, body, attrs, other in _ROW.findall(complete):
                if not given:
                    given = next((v for k, v in _ATTR.findall(attrs) if k == "r"), "")
                    body = other
                number = int(given) if given.isdigit() else number + 1
                yield number, _row_values(body, shared) if body else []
            if not piece:
                return


def _row_values(body: str, shared: list[str]) -> list[Any]:
    row: list[Any] = []
    columns = _COLUMNS
    for letters, kind, v, t, attrs, inner in _CELL.findall(body):
        if v:
            if kind == "s":
                try:
                    value: Any = shared[int(v)]
                except (ValueError, IndexError):
                    raise NotAWorkbook from None
            elif not kind or kind == "n":
                value = int(v) if v.isdigit() else _value("n", v, shared)
                if value is None:
                    continue
            else:
                value = _value(kind, _unescape(v), shared)
        elif t:
            value = _unescape(t)
        elif inner:
            _cell(row, attrs, inner, shared)
            continue
        else:
            continue
        column = columns.get(letters, -1) if letters else len(row)
        if column < 0:
            column = _column(letters)
        width = len(row)
        if column == width:
            row.append(value)
        elif column > width:
            row.extend([None] * (column - width))
            row.append(value)
        else:
            row[column] = value
    return row


def _cell(row: list[Any], attrs: str, inner: str, shared: list[str]) -> None:
    kind, column = "n", len(row)
    for k, v in _ATTR.findall(attrs):
        if k == "t":
            kind = v
        else:
            column = _column(v) if v[:1].isalpha() else column
    if kind == "inlineStr" and "rPh" in inner:
        inner = _PHONETIC.sub("", inner)
    pieces = _TEXT.findall(inner)
    if not pieces:
        return
    text = _unescape(pieces[0] if len(pieces) == 1 else "".join(pieces))
    value = text if kind == "inlineStr" else _value(kind, text, shared)
    if value is None:
        return
    if column == len(row):
        row.append(value)
    elif column > len(row):
        row.extend([None] * (column - len(row)))
        row.append(value)
    else:
        row[column] = value


def _value(kind: str, text: str, shared: list[str]) -> Any:
    if kind == "s":
        try:
            return shared[int(text)]
        except (ValueError, IndexError):
            raise NotAWorkbook from None
    if kind in ("inlineStr", "str", "e", "d"):
        return text
    if kind == "b":
        return text.strip() == "1"
    if not text.strip():
        return None
    try:
        return _number(text)
    except ValueError:
        return text


# ---- writing ----

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Relationships xmlns="{PKG_REL}">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_BOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Relationships xmlns="{PKG_REL}">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    "</Relationships>"
)
# Style 1: number format 49, "@" (text).
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<styleSheet xmlns="{MAIN}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _column_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _xml_text(value: str) -> str:
    text = _INVALID_XML.sub("", value)
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def xlsx_bytes(rows: Iterable[list[str]], *, sheet_name: str, text_column: int | None) -> bytes:
    """A workbook of one sheet whose cells are the given strings (inline strings).

    `text_column` gets the text number format ("@"), the whole column, so a number typed there
    later stays text too.
    """
    names = [_column_name(i) for i in range(64)]
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        f'<worksheet xmlns="{MAIN}">',
    ]
    if text_column is not None:
        n = text_column + 1
        parts.append(
            f'<cols><col min="{n}" max="{n}" width="22" style="1" customWidth="1"/></cols>'
        )
    parts.append("<sheetData>")
    for number, row in enumerate(rows, 1):
        cells = [f'<row r="{number}">']
        for i, value in enumerate(row):
            if value is None or value == "":
                continue
            text = _xml_text(str(value))
            style = ' s="1"' if i == text_column else ""
            space = ' xml:space="preserve"' if text != text.strip() else ""
            ref = names[i] if i < len(names) else _column_name(i)
            cells.append(
                f'<c r="{ref}{number}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>'
            )
        cells.append("</row>")
        parts.append("".join(cells))
    parts.append("</sheetData></worksheet>")
    book = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
        f'<sheet name="{_xml_text(sheet_name)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", book)
        archive.writestr("xl/_rels/workbook.xml.rels", _BOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        archive.writestr("xl/worksheets/sheet1.xml", "".join(parts))
    return out.getvalue()
