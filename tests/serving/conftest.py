"""Shared by the serving tests: the reliability report that `make reliability` collects."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module", autouse=True)
def reliability_report(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a module that counts what it measured (a module-level `COUNTS`), append the counts to the
    reliability report when `benchmarks/reliability.py` asks for one (LEADSCORE_RELIABILITY_REPORT)."""
    yield
    counts = getattr(request.module, "COUNTS", None)
    path = os.environ.get("LEADSCORE_RELIABILITY_REPORT")
    if counts is not None and path:
        with Path(path).open("a") as fh:
            fh.write(json.dumps(dict(counts)) + "\n")
