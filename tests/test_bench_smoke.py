"""Benchmarks that cannot rot: every bench module runs in smoke mode, and every documented command parses.

A benchmark is found, not listed (`bench.harness.benchmark_names`: a `bench/<name>.py` with a
top-level `main`), so a new one is smoke-tested without editing this file. Each runs as
`python -m bench.<name> --smoke` in its own process, on SQLite or, when DATABASE_URL names
PostgreSQL, on a database of its own beside the test database.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from bench.__main__ import build_parser as runner_parser
from bench.harness import benchmark_names, build_parser_of, judge, run_benchmark
from models.db import Database

ROOT = Path(__file__).resolve().parent.parent
NAMES = benchmark_names()
# `python -m bench.X args`, `python bench/X.py args`, `python -m bench args`, up to the end of
# the code span, the line, a shell comment or a quote (in the bench modules' own code).
COMMAND = re.compile(
    r"python\d*(?:\.\d+)? (?:-m bench\.(?P<module>\w+)|bench/(?P<file>\w+)\.py|-m bench(?![\w./]))"
    r"(?P<args>[^`\n#\"'{}]*)"
)


def documented_commands() -> list[tuple[str, str | None, list[str]]]:
    """(where, benchmark or None for the runner, arguments) of every command in the docs."""
    files = [
        ROOT / "README.md",
        ROOT / "bench" / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]
    files += sorted((ROOT / "bench").glob("*.py"))
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in COMMAND.finditer(line):
                name = match["module"] or match["file"]
                where = f"{path.relative_to(ROOT)}:{number}"
                found.append((where, name, shlex.split(match["args"].strip())))
    return found


async def rows_in(url: str) -> int:
    """Rows in all the application's tables of the database at `url`."""
    db = Database(url)
    try:
        async with db.session() as s:
            total = 0
            for table in SQLModel.metadata.sorted_tables:
                count = await s.execute(text(f'SELECT COUNT(*) FROM "{table.name}"'))
                total += count.scalar_one()
            return total
    finally:
        await db.dispose()


async def databases_named_like(url: str, prefix: str) -> list[str]:
    """Databases on `url`'s PostgreSQL server whose name starts with `prefix`."""
    db = Database(url)
    try:
        async with db.session() as s:
            names = await s.execute(text("SELECT datname FROM pg_database"))
            return [name for name in names.scalars() if name.startswith(prefix)]
    finally:
        await db.dispose()


def test_the_three_benchmarks_of_the_issue_are_found_and_helpers_are_not() -> None:
    assert {"inbound", "broadcast", "ratelimit"} <= set(NAMES)
    assert not {"scratch", "harness", "__init__", "__main__"} & set(NAMES)


@pytest.mark.parametrize("name", NAMES)
async def test_smoke_run_ends_with_its_json_line_and_every_invariant_true(
    name: str, database_url: str
) -> None:
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    run = await asyncio.to_thread(
        run_benchmark, name, smoke=True, database_url=database_url if postgres else None
    )
    output = f"$ {shlex.join(run.command)}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert run.problems == [], output
    assert run.result is not None and run.result["bench"] == name
    assert run.result["invariants"] and all(v is True for v in run.result["invariants"].values())
    # The benchmark worked in a database of its own: the test database is as it was, and the
    # benchmark's own database is gone again.
    assert await rows_in(database_url) == 0
    if postgres:
        assert ("--database-url" in run.command) == ("--database-url" in _options(name))
        own = f"{make_url(database_url).database}_bench_{name}"
        assert await databases_named_like(database_url, own) == []


def _options(name: str) -> set[str]:
    """The long options a benchmark's parser knows, as its --help lists them."""
    return set(re.findall(r"--[\w-]+", build_parser_of(name).format_help()))


@pytest.mark.parametrize("name", NAMES)
def test_every_benchmark_is_documented_with_its_smoke_command(name: str) -> None:
    readme = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    assert f"python -m bench.{name} --smoke" in readme, (
        f"bench/README.md has no `python -m bench.{name} --smoke` (see its convention section)"
    )


def test_every_documented_benchmark_command_names_a_real_module_and_real_options() -> None:
    commands = documented_commands()
    documented = {name for _, name, _ in commands if name}
    assert {"inbound", "broadcast", "ratelimit"} <= documented, "the docs' commands were not found"
    for where, name, args in commands:
        if name is None:
            parser = runner_parser()
        else:
            assert name in NAMES, f"{where}: bench.{name} is not a benchmark (there are {NAMES})"
            parser = build_parser_of(name)
        try:
            parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"{where}: `{shlex.join(args)}` is not a valid command line for {name}")


def test_a_crash_no_final_line_a_wrong_name_or_a_false_invariant_each_fail_the_run() -> None:
    good = 'summary\n{"bench": "x", "invariants": {"none_lost": true}}\n'
    assert judge("x", 0, good) == []
    assert judge("x", 1, good) == ["exit status 1"]
    assert judge("x", 1, "Traceback (most recent call last):\n") == [
        "exit status 1",
        "the last stdout line is not a JSON object",
    ]
    assert judge("x", 0, good + "one more line\n") == ["the last stdout line is not a JSON object"]
    assert judge("x", 0, '{"bench": "y", "invariants": {"ok": true}}') == [
        "\"bench\" is 'y', not 'x'"
    ]
    assert judge("x", 0, '{"bench": "x", "invariants": {}}') == [
        "no invariants in the final JSON line"
    ]
    assert judge("x", 0, '{"bench": "x", "invariants": {"none_lost": false, "ok": 1}}') == [
        "invariant 'none_lost' is False",
        "invariant 'ok' is 1",
    ]
