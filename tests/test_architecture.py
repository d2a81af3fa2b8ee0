"""The arrows of DESIGN.md: bot → handlers → models, bot → scheduler → models; no transport below bot/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TRANSPORTS = {"telegram", "wechatpy", "starlette", "fastapi", "uvicorn", "httpx"}
FORBIDDEN = {
    "models": TRANSPORTS | {"bot", "handlers", "scheduler"},
    "handlers": TRANSPORTS | {"bot", "scheduler"},
    "scheduler": TRANSPORTS | {"bot", "handlers"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_room_allows(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}


def test_the_scan_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from telegram import Bot\nimport bot.app\n", encoding="utf-8")
    assert imported_roots(bad) == {"telegram", "bot"}


def test_adapters_cannot_shadow_the_sdks() -> None:
    names = {p.stem for p in (ROOT / "bot" / "channels").glob("*.py")}
    assert not names & TRANSPORTS


def test_the_four_rooms_are_listed_explicitly_in_pyproject() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"packages = \[(.*?)\]", text, re.S)
    assert block is not None
    for room in ("bot", "handlers", "models", "scheduler"):
        assert f'"{room}"' in block.group(1)
