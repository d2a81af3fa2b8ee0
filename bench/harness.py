"""What every benchmark shares: finding them, the final JSON line, running one and judging it.

The convention (bench/README.md): a benchmark is a module `bench/<name>.py` with a top-level
`main(argv) -> int` and `build_parser() -> argparse.ArgumentParser`; it accepts `--smoke`
(tiny sizes, seconds), takes `--database-url` if it uses a database (through
`bench.scratch.ScratchDatabase`), and prints as its last stdout line one JSON object with at
least `"bench": "<name>"` and `"invariants": {"<check>": true|false, ...}` (`emit()` does it).
Helpers such as this module and `scratch.py` have no `main`, so they are not benchmarks.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.scratch import sibling_database

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
SMOKE_TIMEOUT = 180.0  # seconds for one smoke run: a hung benchmark fails, it does not hang CI


def benchmark_names() -> list[str]:
    """Every `bench/<name>.py` (not starting with `_`) that defines a top-level `main`."""
    names = []
    for path in sorted(BENCH_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        if any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "main"
            for node in tree.body
        ):
            names.append(path.stem)
    return names


def emit(result: dict[str, Any]) -> int:
    """Print `result` as the final stdout line; the exit status: 0 when every invariant holds."""
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if not invariant_problems(result.get("invariants")) else 1


def invariant_problems(invariants: Any) -> list[str]:
    """What is wrong with an `invariants` value: missing, empty, or some not exactly true."""
    if not isinstance(invariants, dict) or not invariants:
        return ["no invariants in the final JSON line"]
    return [
        f"invariant {key!r} is {value!r}" for key, value in invariants.items() if value is not True
    ]


def final_result(stdout: str) -> dict[str, Any] | None:
    """The JSON object on the last non-empty stdout line, or None."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    try:
        value = json.loads(lines[-1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def judge(name: str, returncode: int, stdout: str) -> list[str]:
    """Why a benchmark run does not pass (empty when it does)."""
    problems = [] if returncode == 0 else [f"exit status {returncode}"]
    result = final_result(stdout)
    if result is None:
        return [*problems, "the last stdout line is not a JSON object"]
    if result.get("bench") != name:
        problems.append(f'"bench" is {result.get("bench")!r}, not {name!r}')
    return problems + invariant_problems(result.get("invariants"))


def build_parser_of(name: str) -> Any:
    """The benchmark's argument parser (`bench.<name>.build_parser()`)."""
    module = importlib.import_module(f"bench.{name}")
    return module.build_parser()


def takes_database_url(name: str) -> bool:
    """True when the benchmark has a `--database-url` option."""
    _, unknown = build_parser_of(name).parse_known_args(["--database-url", "sqlite:///x.db"])
    return "--database-url" not in unknown


@dataclass
class Run:
    """One benchmark run in its own process."""

    name: str
    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def result(self) -> dict[str, Any] | None:
        """Its final JSON line."""
        return final_result(self.stdout)


def run_benchmark(
    name: str,
    *,
    smoke: bool = True,
    database_url: str | None = None,
    timeout: float | None = SMOKE_TIMEOUT,
    extra: list[str] | None = None,
    stream: bool = False,
) -> Run:
    """`python -m bench.<name> [--smoke]` from the project root, on a database of its own.

    On PostgreSQL the benchmark gets a sibling database (`<db>_bench_<name>`, dropped
    afterwards); on SQLite (or with no URL) it makes its own temporary file. DATABASE_URL is
    not passed on, so nothing can reach the database named there by accident.
    """
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    with sibling_database(database_url, f"bench_{name}") as own_url:
        command = [sys.executable, "-m", f"bench.{name}", *(["--smoke"] if smoke else [])]
        if own_url is not None and takes_database_url(name):
            command += ["--database-url", own_url]
        command += extra or []
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=None if stream else subprocess.PIPE,
                text=True,
                timeout=timeout,
                check=False,
            )
            returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr or ""
        except subprocess.TimeoutExpired as expired:
            returncode = -1
            stdout = _text(expired.stdout)
            stderr = _text(expired.stderr) + f"\ntimed out after {timeout:g} s"
    run = Run(name, command, returncode, stdout, stderr, time.perf_counter() - started)
    run.problems = judge(name, returncode, stdout)
    if returncode == -1:
        run.problems.insert(0, f"timed out after {timeout:g} s")
    return run


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""
