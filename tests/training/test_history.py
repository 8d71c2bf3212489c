"""History drift over the whole history: outcome rate by month in `train`'s notes, its MLflow run and the
model (so `GET /model` shows it), and a warning when the latest months look as if their outcomes were still
maturing."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from open_funnels import MATURING_TOML, drifting_funnel

from leadscore.features.config import parse_config_text
from leadscore.models.registry import load_model
from leadscore.training.fit import fit_and_evaluate
from leadscore.training.pipeline import train

FLOORS = "\n[training]\nmin_positives = 50\n"
NO_CLOCK = MATURING_TOML.replace('decided_at = "won_at"\n', "").replace('"revenue"]', '"revenue", "won_at"]')


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return drifting_funnel(8000, seed=5)[0]


def _month(history: pd.DataFrame, position: int) -> str:
    return pd.to_datetime(history["created_at"]).dt.strftime("%Y-%m").sort_values().unique()[position]


def test_rates_by_month_and_the_maturing_warning(history: pd.DataFrame) -> None:
    fit = fit_and_evaluate(history, parse_config_text(NO_CLOCK + FLOORS))
    months = fit.monthly
    assert months["leads"].sum() == len(history) and months["month"].is_monotonic_increasing
    notes = " | ".join(fit.notes)
    assert "the won rate moves across history's months" in notes
    assert "outcomes may still be maturing" in notes and _month(history, -1) in notes.split("maturing")[0]
    with_clock = fit_and_evaluate(history, parse_config_text(MATURING_TOML + FLOORS))
    assert not any("may still be maturing" in n for n in with_clock.notes)  # the window took care of it
    assert with_clock.monthly["leads"].sum() == len(history) - with_clock.report.maturing_leads


def test_the_run_and_the_model_carry_the_monthly_rates(history: pd.DataFrame, tmp_path: Path) -> None:
    history.to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "leadscore.toml").write_text(NO_CLOCK + FLOORS)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = train(tmp_path / "leads.csv", tmp_path / "leadscore.toml", store, "history-test", promote_anyway=True)
    client = mlflow.MlflowClient(store)
    logged = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert "plots/monthly_rates.png" in logged
    assert "may still be maturing" in client.get_run(result.run_id).data.tags["history_notes"]
    manifest = load_model("models:/history-test@champion", store).manifest
    assert [row["month"] for row in manifest["history"]] == result.fit.monthly["month"].tolist()
    assert manifest["history"][0]["won_rate"] == pytest.approx(result.fit.monthly["won_rate"].iloc[0], abs=1e-6)
