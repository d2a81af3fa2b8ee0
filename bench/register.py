"""Register import at street scale: rows a second at 1,000, 10,000 and 100,000 rows, and the ratio.

For each size a fresh database (bench/scratch.py: a temporary SQLite file, or the PostgreSQL
database given, which must have no schema or empty tables and is left as found) gets the demo
community, then an .xlsx register of that many people (valid GB 11643 numbers, the demo's
estates and grids plus new buildings, 3 people a flat, 2 % without an address, 1 % with a wrong
check digit) is imported through `models.register.import_register`, the way the chat's
background job runs it. Then, side by side in the same run: the same file again (every row
must be unchanged), 1,000 new people into the table that now holds the size (the cost per row
must not grow with the table), and the export imported back (every row unchanged).

It prints a summary and, as the LAST line, one JSON object: `{"bench": "register", "database",
"sizes": {"1000": {"rows_per_s", "seconds", ...}, ...}, "ratio" (rows/s at the largest size ÷
rows/s at the smallest), "peak_rss_mb", "goals": {...}, "invariants": {...: true}}`. The exit
status is 1 when an invariant fails.

    python -m bench.register                  # 1k, 10k, 100k on SQLite (about a minute)
    python -m bench.register --smoke          # a few hundred rows, seconds (make test)
    python -m bench.register --database-url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/register.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.scratch import ScratchDatabase
from models.db import Database
from models.demo import seed_demo
from models.idcard import IdCipher, check_char, compose_id_number, new_keys
from models.register import (
    ImportReport,
    ResidentRecord,
    import_register,
    register_rows,
    write_register,
)
from models.tables import Community, Person

NOW = datetime(2026, 3, 7, 2, 0, tzinfo=UTC)
TODAY = NOW.date()
HEADER = ["姓名", "身份证号", "手机号", "小区", "楼栋", "单元", "室", "网格",
          "与户主关系", "独居", "行动不便", "备注"]  # fmt: skip
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰华红建国玉梅志文斌春海燕鹏飞云凤晨辉"
GOAL_SECONDS_100K = 20.0
RSS_LIMIT_MB = 500
WARM_UP, WARM_OFFSET = 30, 5_000_000  # people of the untimed warm-up import (all valid)
FIXED_PHASES = ("start", "audit")  # phases whose cost does not depend on the file's size
DEMO_PEOPLE = 9  # the demo register without its dated extras (events=False: no 王丽, no 钱桂兰)


def _name(i: int) -> str:
    return (
        SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)] + GIVEN[(i // 311) % len(GIVEN)]
    )


def _id_number(i: int, born: date, *, bad: bool = False) -> str:
    # A distinct region code per 999 people keeps every number unique (320601…320699, 3207…).
    region = f"{320601 + (i // 999) % 99 + (i // (999 * 99)) * 100}"
    number = compose_id_number(region, born, i % 999 + 1, female=i % 2 == 0)
    if bad:
        last = number[17]
        number = number[:17] + ("1" if last != "1" else "2")
    assert bad or check_char(number[:17]) == number[17]
    return number


def register_file(size: int, offset: int = 0) -> tuple[bytes, int]:
    """An .xlsx register of `size` people (from person number `offset`); and how many are bad."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("居民底册")
    sheet.append(["虹南社区居民底册"])
    sheet.append(HEADER)
    bad = 0
    for n in range(size):
        i = offset + n
        born = date(1930 + i % 90, 1 + i % 12, 1 + i % 28)
        wrong = n % 100 == 99
        bad += wrong
        flat = i // 3
        building = flat // 48  # 6 units x 8 rooms a building
        unit, room = 1 + flat % 6, 101 + (flat // 6) % 8
        if building < 4:
            estate, number, grid = "虹桥南村", str(building + 1), "乐清网格"
        elif building < 8:
            estate, number, grid = "虹桥南村", str(building + 1), "乐美网格"
        else:
            estate = ("虹桥南村", "虹桥东村", "虹桥西村")[building % 3]
            number = str(100 + building)
            grid = ("乐清网格", "乐美网格")[building % 2]
        address = [estate, number, str(unit), str(room)]
        if n % 50 == 7:  # no address, only a grid
            address = ["", "", "", ""]
        sheet.append(
            [_name(i), _id_number(i, born, bad=wrong), f"139{i % 100_000_000:08d}", *address,
             grid, "户主" if i % 3 == 0 else "家庭成员", "是" if i % 17 == 0 else "否",
             "是" if i % 23 == 0 else "否", "卧床" if i % 29 == 0 else ""]
        )  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), bad


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _setup(url: str, cipher: IdCipher) -> int:
    db = Database(url)
    try:
        async with db.session() as s:
            await seed_demo(s, NOW, cipher, events=False)  # the register alone: 9 demo people
            return (await s.execute(select(Community.id))).scalar_one()
    finally:
        await db.dispose()


async def _import(
    db: Database,
    cipher: IdCipher,
    cid: int,
    data: bytes,
    timings: dict[str, float] | None = None,
) -> tuple[ImportReport, float, float]:
    """The report, wall seconds and CPU seconds (this process, all threads) of one import."""
    start, cpu = time.perf_counter(), time.process_time()
    report = await import_register(
        db, cipher, community_id=cid, data=data, filename="底册.xlsx", now=NOW, today=TODAY,
        source="cli", timings=timings,
    )  # fmt: skip
    return report, time.perf_counter() - start, time.process_time() - cpu


def _no_raw_ids_in_files(url: str, samples: list[str]) -> bool:
    path = make_url(url).database or ""
    blob = b"".join(
        Path(path + suffix).read_bytes() for suffix in ("", "-wal") if Path(path + suffix).exists()
    )
    return not any(s.encode() in blob for s in samples)


def _child_import(url: str, keys: tuple[str, str], cid: int, path: str, out: Any) -> None:
    """The timed import, alone in a fresh process, so that its peak RSS is the import's own."""

    data = Path(path).read_bytes()  # the file as the chat would hand it over

    async def go() -> tuple[float, float, int, int, list[str], dict[str, float]]:
        db = Database(url)
        try:
            # Untimed: a fresh process compiles its statements and regular expressions first.
            await _import(db, IdCipher(*keys), cid, register_file(WARM_UP, offset=WARM_OFFSET)[0])
            phases: dict[str, float] = {}
            report, seconds, cpu = await _import(db, IdCipher(*keys), cid, data, phases)
            reasons = sorted({r.reason or "" for r in report.rejected})
            added, rejected = report.count("added"), report.count("rejected")
            return seconds, cpu, added, rejected, reasons, phases
        finally:
            await db.dispose()

    out.put((*asyncio.run(go()), peak_rss_mb()))


def timed_import(url: str, keys: tuple[str, str], cid: int, data: bytes) -> dict[str, Any]:
    """Import `data` in a child process: seconds, added, rejected, reasons, peak RSS (MB)."""
    with tempfile.TemporaryDirectory(prefix="linli-bench-register-") as tmp:
        path = Path(tmp) / "register.xlsx"
        path.write_bytes(data)
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        child = context.Process(target=_child_import, args=(url, keys, cid, str(path), out))
        child.start()
        try:
            seconds, cpu, added, rejected, reasons, phases, rss = out.get(timeout=3600)
        finally:
            child.join()
    if child.exitcode != 0:
        raise SystemExit(f"the import process failed ({child.exitcode})")
    return {"seconds": seconds, "cpu_s": cpu, "added": added, "rejected": rejected,
            "reasons": reasons, "rss_mb": rss, "phases": phases}  # fmt: skip


async def measure(url: str, keys: tuple[str, str], size: int, *, extras: bool) -> dict[str, Any]:
    """Import `size` rows into a fresh demo database; with `extras` the side-by-side checks."""
    cipher = IdCipher(*keys)
    cid = await _setup(url, cipher)
    data, bad = register_file(size)
    first = await asyncio.to_thread(timed_import, url, keys, cid, data)
    seconds = first["seconds"]
    db = Database(url)
    try:
        async with db.session() as s:
            people = (await s.execute(select(func.count()).select_from(Person))).scalar_one()
            records = (
                await s.execute(
                    select(func.count())
                    .select_from(ResidentRecord)
                    .where(ResidentRecord.id_hash.is_not(None))  # type: ignore[union-attr]
                )
            ).scalar_one()
        result: dict[str, Any] = {
            "rows": size,
            "seconds": round(seconds, 3),
            "rows_per_s": round(size / seconds, 1),
            # CPU of the importing process, all its threads (SQLite's too; not PostgreSQL's
            # server): what the import costs, whatever the machine's other load.
            "cpu_s": round(first["cpu_s"], 3),
            "cpu_us_per_row": round(first["cpu_s"] / size * 1e6, 1),
            "added": first["added"],
            "rejected": first["rejected"],
            "import_peak_rss_mb": round(first["rss_mb"], 1),
            # Wall seconds per phase (models/register/writing.py `Phases`), summed over chunks.
            "phases_s": {k: round(v, 3) for k, v in first["phases"].items()},
            # What does not grow with the file: reading the community's places and the people
            # without an ID number ("start") and the audit row ("audit"), measured.
            "fixed_s": round(sum(first["phases"].get(k, 0.0) for k in FIXED_PHASES), 3),
        }
        result["per_row_us_without_fixed"] = round((seconds - result["fixed_s"]) / size * 1e6, 1)
        checks = {
            "all_good_rows_added": first["added"] == size - bad,
            "bad_rows_rejected_with_reason": first["rejected"] == bad
            and first["reasons"] == (["idcard.bad_check_digit"] if bad else []),
            "people_in_database": people == size - bad + DEMO_PEOPLE + WARM_UP
            and records == size - bad + DEMO_PEOPLE + WARM_UP,
            "import_peak_rss_under_500_mb": first["rss_mb"] < RSS_LIMIT_MB,
        }
        if extras:
            again, again_s, again_cpu = await _import(db, cipher, cid, data)
            result["again_rows_per_s"] = round(size / again_s, 1)
            result["again_cpu_us_per_row"] = round(again_cpu / size * 1e6, 1)
            checks["second_import_changes_nothing"] = again.count("unchanged") == size - bad
            more, _ = register_file(1000, offset=size)
            added, more_s, more_cpu = await _import(db, cipher, cid, more)
            result["next_1000_rows_per_s"] = round(1000 / more_s, 1)
            result["next_1000_cpu_us_per_row"] = round(more_cpu / 1000 * 1e6, 1)
            checks["next_1000_added"] = added.count("added") == 990
            async with db.session() as s:
                rows = await register_rows(s, cipher, cid)
            start = time.perf_counter()
            exported = write_register(rows, "out.xlsx")
            back, back_s, _ = await _import(db, cipher, cid, exported)
            result["export_s"] = round(time.perf_counter() - start - back_s, 3)
            checks["export_imports_back_unchanged"] = len(back.rows) == len(rows) - 1 and {
                r.status for r in back.rows
            } == {"unchanged"}
            if db.is_sqlite:
                samples = [r[1] for r in rows[1 :: max(1, len(rows) // 20)]]
                checks["no_raw_id_in_database_file"] = _no_raw_ids_in_files(url, samples)
        result["checks"] = checks
        return result
    finally:
        await db.dispose()


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (bench/harness.py reads them too)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.register", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--smoke", action="store_true", help="a few hundred rows, seconds")
    parser.add_argument(
        "--sizes", default=None, help="comma-separated row counts (default 1000,10000,100000)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a fresh SQLite file in a temporary directory; a PostgreSQL URL must "
        "point at a database without the schema or with empty tables (restored afterwards)",
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The parsed command line."""
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure each size on a fresh database; print the summary, then the JSON line."""
    args = parse_args(argv)
    default = "100,300" if args.smoke else "1000,10000,100000"
    sizes = [int(s) for s in (args.sizes or default).split(",")]
    keys = new_keys()
    load_before = os.getloadavg()
    results: dict[str, dict[str, Any]] = {}
    kind = "sqlite"
    for size in sizes:
        database = ScratchDatabase(args.database_url, tmp_prefix="linli-bench-register-")
        kind = database.kind
        database.prepare()
        try:
            results[str(size)] = asyncio.run(
                measure(database.url, keys, size, extras=size == sizes[-1])
            )
        finally:
            database.cleanup()
        r = results[str(size)]
        extra = "".join(
            f", {k} {r[k]}"
            for k in ("again_rows_per_s", "next_1000_rows_per_s", "export_s")
            if k in r
        )
        print(
            f"{size:>7} rows: {r['seconds']:.2f} s, {r['rows_per_s']:.0f} rows/s, CPU "
            f"{r['cpu_s']:.2f} s ({r['cpu_us_per_row']:.0f} µs a row){extra}; fixed "
            f"{r['fixed_s']:.2f} s, without it {r['per_row_us_without_fixed']:.0f} µs a row\n"
            f"         phases (wall s): "
            + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(r["phases_s"].items(), key=lambda kv: -kv[1])
            ),
            flush=True,
        )
    first, last = results[str(sizes[0])], results[str(sizes[-1])]
    ratio = last["rows_per_s"] / first["rows_per_s"]
    # The same ratio in CPU per row (smallest ÷ largest: 1.0 is flat, less is slower per row).
    cpu_ratio = first["cpu_us_per_row"] / last["cpu_us_per_row"]
    # The wall time a row with the measured fixed phases taken out (smallest ÷ largest).
    ratio_without_fixed = first["per_row_us_without_fixed"] / last["per_row_us_without_fixed"]
    # And fitted: the cost of each further row between the smallest and the largest size, and
    # what is left at zero rows (start-up that no per-row work explains).
    marginal = (last["seconds"] - first["seconds"]) / max(1, sizes[-1] - sizes[0])
    intercept = first["seconds"] - sizes[0] * marginal
    rss = peak_rss_mb()
    invariants: dict[str, bool] = {}
    for r in results.values():
        for name, ok in r.pop("checks").items():
            invariants[name] = invariants.get(name, True) and ok
    goals: dict[str, bool] = {
        "flat_per_row_cost": ratio >= 0.7,
        "flat_cpu_per_row": cpu_ratio >= 0.7,
        "flat_per_row_cost_without_fixed": ratio_without_fixed >= 0.7,
    }
    if "100000" in results:
        goals["100k_under_20_s"] = results["100000"]["seconds"] < GOAL_SECONDS_100K
        goals["100k_cpu_under_20_s"] = results["100000"]["cpu_s"] < GOAL_SECONDS_100K
    print(
        f"ratio rows/s {sizes[-1]} : {sizes[0]} = {ratio:.2f} (CPU a row: {cpu_ratio:.2f}, "
        f"without the fixed phases: {ratio_without_fixed:.2f}; fitted: "
        f"{marginal * 1e6:.0f} µs a further row, {intercept:.2f} s at zero rows); "
        f"load average {load_before[0]:.1f} → {os.getloadavg()[0]:.1f}; import peak RSS "
        f"{max(r['import_peak_rss_mb'] for r in results.values()):.0f} MB; "
        f"database {kind}"
    )
    failed = [k for k, ok in invariants.items() if not ok]
    if failed:
        print("FAILED: " + ", ".join(failed))
    print(
        json.dumps(
            {
                "bench": "register",
                "database": kind,
                "sizes": results,
                "rows_per_s": {k: v["rows_per_s"] for k, v in results.items()},
                "ratio": round(ratio, 3),
                "cpu_us_per_row": {k: v["cpu_us_per_row"] for k, v in results.items()},
                "cpu_ratio": round(cpu_ratio, 3),
                "ratio_without_fixed": round(ratio_without_fixed, 3),
                "marginal_us_per_row": round(marginal * 1e6, 1),
                "intercept_s": round(intercept, 3),
                "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
                "cpu_count": os.cpu_count(),
                "peak_rss_mb": max(r["import_peak_rss_mb"] for r in results.values()),
                "bench_process_peak_rss_mb": round(rss, 1),
                "goals": goals,
                "invariants": invariants,
            },
            ensure_ascii=False,
        ),
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
