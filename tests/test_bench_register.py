"""The register benchmark at smoke size: it runs, and its last line says every invariant held."""

from __future__ import annotations

import json

import pytest

from bench.register import main


def test_the_register_benchmark_smoke_run_holds_its_invariants(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--smoke"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["bench"] == "register" and set(last["rows_per_s"]) == {"100", "300"}
    assert last["invariants"] and all(last["invariants"].values()), last["invariants"]
    assert last["ratio"] > 0 and last["peak_rss_mb"] > 0
