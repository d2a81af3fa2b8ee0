"""GeoReport v2's two formats: the same answer as JSON or as the spec's XML.

XML is the spec's required format: `<services><service>…`, `<service_definition>…
<attributes><attribute>…`, `<service_requests><request>…`, `<errors><error>…`; an empty
field is an empty element, a boolean is `true` / `false`. JSON is the same lists and objects.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from starlette.responses import JSONResponse, Response

FORMATS = ("json", "xml")
XML_TYPE = "text/xml; charset=utf-8"
# The element of one item of a list-valued field (a service definition's attributes, values).
ITEM_OF = {"attributes": "attribute", "values": "value", "endpoints": "endpoint",
           "formats": "format"}  # fmt: skip


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _fields(item: dict[str, Any]) -> str:
    parts = []
    for key, value in item.items():
        if isinstance(value, list):
            child = ITEM_OF.get(key, "item")
            inner = "".join(
                f"<{child}>{_fields(v) if isinstance(v, dict) else _value(v)}</{child}>"
                for v in value
            )
            parts.append(f"<{key}>{inner}</{key}>")
        elif isinstance(value, dict):
            parts.append(f"<{key}>{_fields(value)}</{key}>")
        else:
            parts.append(f"<{key}>{_value(value)}</{key}>")
    return "".join(parts)


def xml(root: str, item: str | None, body: list[dict[str, Any]] | dict[str, Any]) -> str:
    """`<root><item>…</item>…</root>` for a list, `<root>…</root>` for one object."""
    head = '<?xml version="1.0" encoding="utf-8"?>'
    if isinstance(body, dict):
        return f"{head}<{root}>{_fields(body)}</{root}>"
    return (
        f"{head}<{root}>" + "".join(f"<{item}>{_fields(b)}</{item}>" for b in body) + f"</{root}>"
    )


def answer(
    fmt: str,
    body: list[dict[str, Any]] | dict[str, Any],
    *,
    root: str,
    item: str | None = None,
    status: int = 200,
) -> Response:
    """The answer in the format asked for."""
    if fmt == "xml":
        return Response(xml(root, item, body), status_code=status, media_type=XML_TYPE)
    return JSONResponse(body, status_code=status)


def errors(code: int, description: str, fmt: str = "json") -> Response:
    """The spec's error answer: `[{"code": 400, "description": "…"}]` or `<errors><error>…`."""
    return answer(
        fmt, [{"code": code, "description": description}], root="errors", item="error", status=code
    )
