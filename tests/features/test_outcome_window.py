"""Outcomes mature: leads younger than the outcome window count as open, the window is configured or
estimated from `[data].decided_at`, and the contract's new keys are checked like the others."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from open_funnels import MATURING_TOML, drifting_funnel
from typer.testing import CliRunner

from leadscore.cli.main import app
from leadscore.features.config import ConfigError, parse_config_text
from leadscore.features.validation import DataValidationError, prepare_training_frame
from leadscore.training.fit import FitResult

FLOORS = "\n[training]\nmin_positives = 50\n"


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return drifting_funnel(6000, seed=7)[0]


def test_window_is_estimated_from_decision_times_and_young_leads_mature(history: pd.DataFrame) -> None:
    prepared = prepare_training_frame(history, parse_config_text(MATURING_TOML + FLOORS))
    window = prepared.report.window
    assert window is not None and window.days is not None
    timed = history["won_at"].notna()
    assert window.estimated_from == int(timed.sum())
    days = (pd.to_datetime(history["won_at"]) - pd.to_datetime(history["created_at"]))[timed].dt.days
    assert days.quantile(0.85) <= window.days <= days.quantile(0.95) + 1
    created = pd.to_datetime(history["created_at"], utc=True)
    young = created > created.max() - pd.Timedelta(days=window.days)
    assert prepared.report.maturing_leads == int(young.sum()) > 0
    assert prepared.open.to_numpy().tolist() == young.to_numpy().tolist()  # wins in the window mature too
    assert "won_at" in parse_config_text(MATURING_TOML).data.non_feature_columns  # known only afterwards


def test_a_configured_window_overrides_the_estimate(history: pd.DataFrame) -> None:
    config = parse_config_text(MATURING_TOML + FLOORS + "outcome_window_days = 30\n")
    window = prepare_training_frame(history, config).report.window
    assert window is not None and window.days == 30 and window.estimated_from == 0
    no_times = parse_config_text(MATURING_TOML.replace('decided_at = "won_at"\n', "") + FLOORS)
    assert prepare_training_frame(history, no_times).report.maturing_leads == 0  # nothing says outcomes mature


def test_the_new_keys_are_checked(history: pd.DataFrame) -> None:
    no_clock = MATURING_TOML.replace('created_at = "created_at"\n', "")
    with pytest.raises(ConfigError, match="decided_at"):
        parse_config_text(no_clock)
    with pytest.raises(ConfigError, match=r"\[training.outcome_window\] unknown key"):
        parse_config_text(MATURING_TOML + "\n[training]\noutcome_window = 30\n")
    with pytest.raises(ConfigError, match="outcome_window_days"):
        parse_config_text(MATURING_TOML + "\n[training]\noutcome_window_days = 0\n")
    broken = history.assign(won_at=history["won_at"].astype(object))
    broken.loc[broken.index[history["won_at"].notna()][0], "won_at"] = "last tuesday"
    with pytest.raises(DataValidationError, match="won_at") as info:
        prepare_training_frame(broken, parse_config_text(MATURING_TOML + FLOORS))
    assert "1 rows" in str(info.value) and "last tuesday" not in str(info.value)


def test_validate_prints_the_window(history: pd.DataFrame, tmp_path: Path) -> None:
    history.to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "leadscore.toml").write_text(MATURING_TOML + FLOORS)
    args = ["validate", "--data", str(tmp_path / "leads.csv"), "--config", str(tmp_path / "leadscore.toml")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "outcome window" in text and "[training].outcome_window_days sets it" in text
    assert "still maturing and count as open" in text


def test_reports_and_audits_count_maturing_leads_as_open(history: pd.DataFrame) -> None:
    from leadscore.features.outcomes import without_maturing
    from leadscore.marketing.qualification import check_qualification

    config = parse_config_text(MATURING_TOML + FLOORS + "\n[qualification.fit]\ncompany_size = { min = 1 }\n")
    emptied, maturing, window = without_maturing(history, config)
    assert window.days is not None and window.estimated_from > 0
    assert maturing == prepare_training_frame(history, config).report.maturing_leads > 0
    young = emptied["won"].isna()
    assert int(young.sum()) == maturing and history.loc[young, "won"].notna().all()
    assert config.qualification is not None
    report = check_qualification(emptied, config, config.qualification)
    assert report.open_leads == maturing
    mature = history[~young]
    assert report.funnel.loc[0, "win_rate"] == pytest.approx(mature["won"].mean())


def test_the_campaign_report_and_plan_load_maturing_leads_as_open(
    history: pd.DataFrame, tmp_path: Path, fitted: FitResult
) -> None:
    from leadscore.marketing.history import load_history

    history.to_csv(tmp_path / "leads.csv", index=False)
    config = parse_config_text(MATURING_TOML + FLOORS)
    loaded = load_history(tmp_path / "leads.csv", config, tmp_path / "leadscore.toml", fitted.scorer)
    maturing = prepare_training_frame(history, config).report.maturing_leads
    assert int(loaded.frame["won"].isna().sum()) == maturing > 0
    assert "still maturing and count as open" in loaded.maturing_note


def test_reports_and_training_count_the_same_maturing_leads(history: pd.DataFrame) -> None:
    from leadscore.features.outcomes import without_maturing

    config = parse_config_text(MATURING_TOML + FLOORS)
    live = history.assign(won=history["won"].astype(float))
    live.loc[live.index[-25:], "won"] = float("nan")  # the newest deals are open as well as young
    report = prepare_training_frame(live, config).report
    assert report.open_leads == 25
    assert without_maturing(live, config)[1] == report.maturing_leads
