"""The committed CRM Sales Opportunities copy, loaded the way `benchmarks/crm_pipeline.py` loads it: a live
pipeline whose open deals and account gaps are the ones issue #24 reports."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "crm_pipeline.py"


@pytest.fixture(scope="module")
def crm() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crm_pipeline", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_export_is_a_live_pipeline(crm: ModuleType) -> None:
    leads = crm.load_crm()
    assert len(leads) == 8_300 and leads["opportunity_id"].is_unique
    assert int(leads["won"].notna().sum()) == 6_711 and int(leads["won"].isna().sum()) == 1_589
    assert int(leads["won"].sum()) == 4_238
    assert leads.loc[leads["won"].isna(), "close_value"].isna().all()
    assert leads["sector"].notna().sum() == leads["account"].notna().sum()  # every account joined


def test_the_export_at_the_cut_off_hides_later_closes(crm: ModuleType) -> None:
    leads = crm.load_crm()
    history, later, moment = crm.export_at(leads)
    decided = history[history["won"].notna()]
    assert (decided["close_date"] <= moment).all() and (history["engage_date"] <= moment).all()
    assert (later["engage_date"] > moment).all() and later["won"].notna().all()
    assert "close_date" in crm.config().data.non_feature_columns and "deal_stage" in crm.config().data.exclude
    assert isinstance(history, pd.DataFrame)
