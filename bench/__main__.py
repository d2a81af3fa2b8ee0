"""Run every benchmark (or those named), each in its own process, and judge their final lines.

    python -m bench --smoke                  # all of them, tiny sizes (what `make test` checks)
    python -m bench                          # all of them, full size (minutes)
    python -m bench --smoke broadcast inbound --database-url postgresql://…/db

On PostgreSQL each benchmark gets a database of its own beside the one named
(`<db>_bench_<name>`, dropped afterwards). Exit status 1 when any of them crashed, printed no
final JSON line, or reported an invariant that is not true.
"""

from __future__ import annotations

import argparse
import sys

from bench.harness import benchmark_names, run_benchmark


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds each")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL server to use (default: SQLite files)"
    )
    return parser


def run_all(argv: list[str] | None = None) -> int:
    """Run the benchmarks one after the other; print each one's output and a summary."""
    args = build_parser().parse_args(argv)
    known = benchmark_names()
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; there are {known}", file=sys.stderr)
        return 2
    failed = 0
    summary = []
    for name in args.names or known:
        print(f"== python -m bench.{name}{' --smoke' if args.smoke else ''}", flush=True)
        run = run_benchmark(
            name,
            smoke=args.smoke,
            database_url=args.database_url,
            timeout=None if not args.smoke else 180.0,
            stream=True,
        )
        print(run.stdout, end="", flush=True)
        verdict = "ok" if not run.problems else "FAILED: " + "; ".join(run.problems)
        failed += bool(run.problems)
        summary.append(f"{name:12} {run.seconds:6.1f} s  {verdict}")
    print("\n".join(["== summary", *summary]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_all())
