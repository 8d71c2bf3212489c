"""Tests for the synthetic funnel: the ground truth other tests rely on must be sound."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pytest

from leadscore.datasets.synthetic import (
    CAMPAIGNS,
    CHUNK_SIZE,
    DECISION_DAYS,
    JOURNEY_CONFIG_TOML,
    MID_FUNNEL,
    TOUCH_INFLUENCE,
    generate_funnel,
    generate_journeys,
    write_demo_data,
)

N = 5000

EXPECTED_COLUMNS = [
    "lead_id",
    "created_at",
    "campaign",
    "channel",
    "industry",
    "company_size",
    "country",
    "seniority",
    "web_visits",
    "email_opens",
    "content_downloads",
    "pricing_page_views",
    "demo_requested",
    "days_since_last_activity",
    "product_interest",
    "email",
    "full_name",
    "sales_status",
    "accepted",
    "won",
    "revenue",
]


@pytest.fixture(scope="module")
def funnel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """One shared base sample; generating is cheap but the tests read it many times."""
    return generate_funnel(N, seed=7)


def test_columns_and_ids(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads, truth = funnel
    assert list(leads.columns) == EXPECTED_COLUMNS
    assert list(truth.columns) == [
        "lead_id",
        "p_accept_true",
        "p_won_true",
        "expected_revenue_true",
    ]
    assert len(leads) == len(truth) == N
    assert leads["lead_id"].is_unique
    assert leads["lead_id"].iloc[0] == "L000001"
    assert (leads["lead_id"].to_numpy() == truth["lead_id"].to_numpy()).all()
    assert set(leads["campaign"]) <= set(CAMPAIGNS)
    expected_channel = leads["campaign"].map({k: v.channel for k, v in CAMPAIGNS.items()})
    assert (leads["channel"] == expected_channel).all()


def test_same_seed_identical_different_seed_differs() -> None:
    a_leads, a_truth = generate_funnel(N, seed=3)
    b_leads, b_truth = generate_funnel(N, seed=3)
    pd.testing.assert_frame_equal(a_leads, b_leads)
    pd.testing.assert_frame_equal(a_truth, b_truth)
    c_leads, c_truth = generate_funnel(N, seed=4)
    assert not a_leads.equals(c_leads)
    assert not np.allclose(a_truth["p_won_true"], c_truth["p_won_true"])


def test_progress_reports_chunks_and_does_not_change_output() -> None:
    n = CHUNK_SIZE + 123
    calls: list[int] = []
    with_progress, _ = generate_funnel(n, seed=1, progress=calls.append)
    without, _ = generate_funnel(n, seed=1)
    assert calls == [CHUNK_SIZE, n]
    pd.testing.assert_frame_equal(with_progress, without)


def test_rates_in_sane_bands(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads, _ = funnel
    assert 0.18 <= leads["accepted"].mean() <= 0.32
    assert 0.04 <= leads["won"].mean() <= 0.10


def test_won_only_if_accepted_and_revenue_iff_won(
    funnel: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    leads, _ = funnel
    assert set(leads["accepted"].unique()) <= {0, 1}
    assert set(leads["won"].unique()) <= {0, 1}
    assert (leads["won"] <= leads["accepted"]).all()
    assert ((leads["revenue"] > 0) == (leads["won"] == 1)).all()
    assert (leads["revenue"] >= 0).all()
    won_rev = leads.loc[leads["won"] == 1, "revenue"]
    # heavy right tail: the mean sits well above the median
    assert won_rev.mean() > 1.3 * won_rev.median()


def test_feature_domains(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads, _ = funnel
    for col in ["web_visits", "email_opens", "content_downloads", "pricing_page_views"]:
        assert pd.api.types.is_integer_dtype(leads[col])
        assert (leads[col] >= 0).all()
    assert set(leads["demo_requested"].unique()) == {"yes", "no"}
    assert (leads["days_since_last_activity"] >= 0).all()
    assert (leads["company_size"].dropna() >= 1).all()
    assert leads["email"].str.fullmatch(r"[a-z]+\.[a-z]+\.\d+@example\.com").all()
    assert leads["full_name"].str.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+").all()


def test_company_size_missing_share(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads, _ = funnel
    assert 0.07 <= leads["company_size"].isna().mean() <= 0.13


def test_rare_industry_present_but_rare() -> None:
    leads, _ = generate_funnel(20_000, seed=11)
    shares = leads["industry"].value_counts(normalize=True)
    assert 6 <= len(shares) <= 10
    assert 0 < shares.min() < 0.01


def test_good_campaign_beats_bad_campaign(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads, _ = funnel
    best = max(CAMPAIGNS, key=lambda k: CAMPAIGNS[k].quality)
    worst = min(CAMPAIGNS, key=lambda k: CAMPAIGNS[k].quality)
    rates = leads.groupby("campaign")["accepted"].mean()
    assert rates[best] > rates[worst] + 0.15


def test_truth_probabilities_valid_and_calibrated() -> None:
    leads, truth = generate_funnel(20_000, seed=5)
    for col in ["p_accept_true", "p_won_true"]:
        assert truth[col].between(0.0, 1.0).all()
    assert (truth["p_won_true"] <= truth["p_accept_true"] + 1e-12).all()
    assert (truth["expected_revenue_true"] >= 0).all()
    # 20k Bernoulli draws at p ~ 0.07: sd of the mean ~ 0.002, so 0.01 is ~5 sd
    assert abs(leads["won"].mean() - truth["p_won_true"].mean()) < 0.01
    assert abs(leads["accepted"].mean() - truth["p_accept_true"].mean()) < 0.015
    # the probabilities carry signal: the top decile wins far more often than the bottom half
    q = truth["p_won_true"].rank(pct=True)
    assert leads.loc[q > 0.9, "won"].mean() > 4 * leads.loc[q <= 0.5, "won"].mean()
    # expected revenue is consistent with realised revenue on aggregate (heavy tail -> loose)
    ratio = leads["revenue"].sum() / truth["expected_revenue_true"].sum()
    assert 0.7 < ratio < 1.4


def test_shift_changes_mix_and_size_not_seniority() -> None:
    base, _ = generate_funnel(N, seed=21)
    shifted, _ = generate_funnel(N, seed=22, shift=True)

    def share(df: pd.DataFrame, col: str) -> pd.Series:
        return df[col].value_counts(normalize=True)

    cs_base = share(base, "channel").get("content_syndication", 0.0)
    cs_shift = share(shifted, "channel").get("content_syndication", 0.0)
    assert cs_shift > cs_base + 0.10
    assert shifted["company_size"].median() > 1.5 * base["company_size"].median()

    sen = pd.concat([share(base, "seniority"), share(shifted, "seniority")], axis=1).fillna(0)
    # sd of a share difference at n=5000 is < 0.01, so 0.04 is a generous band
    assert (sen.iloc[:, 0] - sen.iloc[:, 1]).abs().max() < 0.04
    ctry = pd.concat([share(base, "country"), share(shifted, "country")], axis=1).fillna(0)
    assert (ctry.iloc[:, 0] - ctry.iloc[:, 1]).abs().max() < 0.04


def test_created_at_sorted_and_within_window() -> None:
    start, end = "2025-03-01", "2025-09-30"
    leads, _ = generate_funnel(N, seed=2, start=start, end=end)
    ts = pd.to_datetime(leads["created_at"])
    assert ts.is_monotonic_increasing
    assert ts.min() >= pd.Timestamp(start)
    assert ts.max() <= pd.Timestamp(end)
    # uniform spread: each half of the window holds roughly half the rows
    mid = pd.Timestamp(start) + (pd.Timestamp(end) - pd.Timestamp(start)) / 2
    assert 0.45 < (ts < mid).mean() < 0.55


def test_campaign_mix_drifts_over_time() -> None:
    leads, _ = generate_funnel(20_000, seed=9)
    early = leads.iloc[: len(leads) // 4]
    late = leads.iloc[-len(leads) // 4 :]
    rising = max(CAMPAIGNS, key=lambda k: CAMPAIGNS[k].trend)
    assert (late["campaign"] == rising).mean() > (early["campaign"] == rising).mean()


def test_sales_status_is_leaky(funnel: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    leads, _ = funnel
    assert (leads.loc[leads["sales_status"] == "Closed Won", "won"] == 1).all()
    assert (leads.loc[leads["won"] == 1, "sales_status"] == "Closed Won").all()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_demo_data(tmp_path: Path, fmt: Literal["csv", "parquet"]) -> None:
    paths = write_demo_data(tmp_path / "demo", n=500, seed=1, fmt=fmt)
    assert set(paths) == {"data", "config", "truth", "responses", "campaign_truth"}
    for p in paths.values():
        assert p.is_file() and p.stat().st_size > 0
    assert paths["data"].name == f"leads.{fmt}"
    assert paths["config"].name == "leadscore.toml"

    cfg = tomllib.loads(paths["config"].read_text(encoding="utf-8"))
    assert cfg == tomllib.loads(JOURNEY_CONFIG_TOML)
    data = cfg["data"]
    assert data["id"] == "lead_id"
    assert data["created_at"] == "created_at"
    assert data["campaign"] == "campaign"
    assert (data["accepted"], data["won"], data["revenue"]) == ("accepted", "won", "revenue")
    assert set(data["exclude"]) == {"email", "full_name", "sales_status"}
    assert "channel" not in data["exclude"]

    df = pd.read_csv(paths["data"]) if fmt == "csv" else pd.read_parquet(paths["data"])
    expected = generate_journeys(500, seed=1).leads
    assert list(df.columns) == [*EXPECTED_COLUMNS[:4], "account", *EXPECTED_COLUMNS[4:]]
    assert (df["lead_id"].to_numpy() == expected["lead_id"].to_numpy()).all()
    assert (df["won"].to_numpy() == expected["won"].to_numpy()).all()
    assert (pd.to_datetime(df["created_at"]) == expected["created_at"]).all()
    truth = pd.read_csv(paths["truth"])
    assert len(truth) == 500


def test_write_demo_data_without_truth(tmp_path: Path) -> None:
    paths = write_demo_data(tmp_path, n=100, seed=0, with_truth=False)
    assert set(paths) == {"data", "config", "responses"}
    assert not (tmp_path / "truth.csv").exists()


def test_journeys_carry_the_truth_of_campaign_influence() -> None:
    """Each lead's own campaign is its first response; mid-funnel campaigns only touch; the wins a campaign
    truly added are positive exactly where its influence is, and later responses lean to won leads."""
    journeys = generate_journeys(N, seed=3)
    leads, responses, truth = journeys.leads, journeys.responses, journeys.campaign_truth
    first = responses.sort_values("responded_at", kind="stable").groupby("lead_id").head(1).set_index("lead_id")
    assert (first.loc[leads["lead_id"], "campaign"].to_numpy() == leads["campaign"].to_numpy()).all()
    assert not set(MID_FUNNEL) & set(leads["campaign"])
    assert responses["event_id"].is_unique
    added = truth.set_index("campaign")["true_incremental_wins"]
    assert ((added > 0) == (pd.Series(TOUCH_INFLUENCE).reindex(added.index) > 0)).all()
    assert truth["true_share"].sum() == pytest.approx(1.0, abs=1e-3)
    created = leads.set_index("lead_id")["created_at"]
    late = responses["responded_at"] >= responses["lead_id"].map(created) + pd.Timedelta(days=DECISION_DAYS)
    won = responses["lead_id"].map(leads.set_index("lead_id")["won"])
    per_lead = late.groupby(responses["lead_id"]).sum().reindex(leads["lead_id"], fill_value=0)
    assert per_lead[leads["won"].to_numpy() == 1].mean() > 2 * per_lead[leads["won"].to_numpy() == 0].mean()
    assert won.notna().all()
    assert leads.groupby("account")["lead_id"].count().between(1, 5).all()
