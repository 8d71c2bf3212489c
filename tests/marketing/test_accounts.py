"""Accounts: leads roll up to their account, and the roll-up adds up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.datasets.synthetic import JOURNEY_CONFIG_TOML, Journeys
from leadscore.features.config import ConfigError, parse_config_text
from leadscore.marketing.account_report import account_report
from leadscore.marketing.accounts import engaged, roll_up
from leadscore.models.reasons import Reason
from leadscore.training.fit import FitResult


def _reason(feature: str, size: float) -> Reason:
    return Reason("won", feature, "x", "ok", size, f"{feature} text {size}")


def test_roll_up_by_hand() -> None:
    people = pd.DataFrame(
        {
            "account": ["A", "A", "B"],
            "lead_id": ["L1", "L2", "L3"],
            "p_won": [0.5, 0.2, 0.1],
            "expected_revenue": [100.0, 50.0, 500.0],
            "engaged": [True, False, True],
        }
    )
    reasons = [[_reason("size", 0.3), _reason("demo", 0.2)], [_reason("demo", 0.5)], [_reason("size", -0.4)]]
    out = roll_up(people, reasons).set_index("account")
    assert out.index.tolist() == ["B", "A"]  # most expected revenue first
    assert out.loc["A", "p_any_win"] == pytest.approx(1 - 0.5 * 0.8)
    assert (out.loc["A", "people"], out.loc["A", "engaged_people"], out.loc["A", "expected_revenue"]) == (2, 1, 150.0)
    assert out.loc["A", "top_reasons"] == ["demo text 0.5 (lead L2)", "size text 0.3 (lead L1)"]  # whose value it is
    assert out.loc["B", "top_reasons"] == []  # only a negative reason
    assert out.loc["A", "best_lead"] == "L1"


def test_engaged_means_a_response_in_the_last_30_days() -> None:
    now = pd.Timestamp("2026-06-30", tz="UTC")
    responses = pd.DataFrame(
        {"lead_id": ["L1", "L2", "L3"], "timestamp": [now - pd.Timedelta(days=d) for d in (1, 40, -1)]}
    )
    assert engaged(pd.Series(["L1", "L2", "L3", "L4"]), responses, now).tolist() == [True, False, False, False]


def test_account_report_sums_its_people(
    tmp_path: Path, journeys: Journeys, journey_fit: tuple[FitResult, pd.DataFrame]
) -> None:
    fit, _ = journey_fit
    leads = journeys.leads.tail(400).copy()
    leads.loc[leads.index[:7], "account"] = ""  # no account: left out
    leads.to_csv(tmp_path / "leads.csv", index=False)
    journeys.responses.to_csv(tmp_path / "responses.csv", index=False)
    (tmp_path / "leadscore.toml").write_text(JOURNEY_CONFIG_TOML)
    config = parse_config_text(JOURNEY_CONFIG_TOML)
    as_of = pd.Timestamp("2026-07-01", tz="UTC")
    report = account_report(tmp_path / "leads.csv", config, tmp_path / "leadscore.toml", fit.scorer, as_of)
    people, accounts = report.people, report.accounts.set_index("account")
    assert len(people) == 393
    assert accounts["people"].sum() == len(people)
    assert accounts["expected_revenue"].sum() == pytest.approx(people["expected_revenue"].sum())
    assert accounts["engaged_people"].sum() == people["engaged"].sum() > 0
    by_account = people.groupby("account")["p_won"].apply(lambda p: 1 - np.prod(1 - p))
    np.testing.assert_allclose(accounts.loc[by_account.index, "p_any_win"], by_account)
    assert all(len(r) <= 3 for r in accounts["top_reasons"])
    assert accounts["top_reasons"].map(len).sum() > 0
    no_account = JOURNEY_CONFIG_TOML.replace('account = "account"\n', "")
    with pytest.raises(ConfigError, match="account column"):
        account_report(tmp_path / "leads.csv", parse_config_text(no_account), tmp_path / "x.toml", fit.scorer, as_of)
