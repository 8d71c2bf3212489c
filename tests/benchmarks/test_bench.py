"""What every benchmark shares (`benchmarks/bench.py`): run facts in each results file, and no timing on a busy
machine unless asked, and then marked (issue #30)."""

from __future__ import annotations

import datetime as dt
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """benchmarks/bench.py, imported as the scripts import it (conftest puts their folder on the path)."""
    import bench

    return bench


def test_a_results_file_records_the_date_and_the_load(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (3.456, 2.0, 1.0))
    info = bench.run_info()
    assert info["load_avg"] == [3.46, 2.0, 1.0]
    assert dt.datetime.fromisoformat(info["date"]).tzinfo is not None


def test_timing_a_busy_machine_is_refused_unless_allowed_and_then_marked(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (4.0, 4.0, 4.0))
    with pytest.raises(SystemExit, match=r"load average 4\.00 > 1\.0"):
        bench.quiet_or_exit(allow_load=False)
    assert bench.quiet_or_exit(allow_load=True) is False
    monkeypatch.setattr(bench.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert bench.quiet_or_exit(allow_load=False) is True
