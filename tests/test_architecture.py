"""The arrows of DESIGN.md: bot → handlers → models, bot → scheduler → models; no transport below
bot/; and no import cycle among the project's modules."""

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


ROOMS = ("bot", "handlers", "models", "scheduler")


def _type_checking_only(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` — imports for annotations only, never executed."""
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Name | ast.Attribute)
        and (getattr(node.test, "id", None) or getattr(node.test, "attr", None)) == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement (inside functions too: a lazy import still makes a cycle)."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def module_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Project module → the project modules it imports (as named in its import statements)."""
    files: dict[str, Path] = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif node.module and node.level == 0:
                # `from handlers import home` names the module handlers.home; else the module.
                targets = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                    for a in node.names
                ]
            else:
                continue
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (strongly connected groups of modules), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups, key=len, reverse=True)


def test_no_import_cycles_among_the_project_modules() -> None:
    graph = module_graph(ROOT, ROOMS)
    assert len(graph) > 40 and graph["bot.app"], "the scan sees the project"
    assert import_cycles(graph) == []


def test_the_cycle_check_fails_on_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "menu.py").write_text("from pkg.ui import helper\n", encoding="utf-8")
    # A lazy import inside a function still closes the cycle; a TYPE_CHECKING one does not.
    (pkg / "onboarding.py").write_text("def f():\n    from pkg.menu import x\n", encoding="utf-8")
    (pkg / "ui.py").write_text(
        "from typing import TYPE_CHECKING\nfrom pkg import onboarding\n"
        "if TYPE_CHECKING:\n    from pkg.typed import T\n",
        encoding="utf-8",
    )
    (pkg / "typed.py").write_text("import pkg.ui\n", encoding="utf-8")
    graph = module_graph(tmp_path, ("pkg",))
    assert graph["pkg.ui"] == {"pkg.onboarding"}
    assert import_cycles(graph) == [["pkg.menu", "pkg.onboarding", "pkg.ui"]]
